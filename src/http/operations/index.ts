// Every operation a preset route can name, one file each. Adding an operation:
// its route settings in the Operation union (src/presets/types.ts), its file
// here, and its line below; a union member without a line is a compile error.
import { blacklist } from './blacklist.js';
import { change_password } from './change-password.js';
import { list_sessions } from './list-sessions.js';
import { login } from './login.js';
import { login_form } from './login-form.js';
import { login_sliding } from './login-sliding.js';
import { logout_all } from './logout-all.js';
import { me } from './me.js';
import { password_form } from './password-form.js';
import { profile } from './profile.js';
import { refresh } from './refresh.js';
import { refresh_sliding } from './refresh-sliding.js';
import { register } from './register.js';
import { register_form } from './register-form.js';
import { revoke_session } from './revoke-session.js';
import type { OpName, OperationDef } from './shared.js';
import { update_profile } from './update-profile.js';
import { user_action } from './user-action.js';
import { user_create } from './user-create.js';
import { user_detail } from './user-detail.js';
import { user_details } from './user-details.js';
import { user_list } from './user-list.js';
import { user_root } from './user-root.js';
import { verify } from './verify.js';

export type { Handler, MountContext, OperationDef, OpName } from './shared.js';

export const OPERATIONS: { readonly [N in OpName]: OperationDef<N> } = {
  login,
  refresh,
  verify,
  blacklist,
  login_sliding,
  refresh_sliding,
  register,
  me,
  profile,
  update_profile,
  change_password,
  list_sessions,
  revoke_session,
  logout_all,
  user_root,
  user_create,
  user_list,
  user_detail,
  user_action,
  login_form,
  user_details,
  password_form,
  register_form,
};
