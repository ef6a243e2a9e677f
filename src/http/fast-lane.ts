// The fast lane: a GET of a route whose answer is constant data (the protected
// greeting, OperationDef.constant), sent with exactly one Authorization header
// that the service accepts at once, is answered here, before Fastify, by
// replaying the answer Fastify itself gave to such a request.
//
// Why: on the protected GET, latchkey cost about 31 µs of server CPU per
// request against 23 µs for a bare Fastify route answering the same JSON
// (0.72–0.79×). Removal experiments (no auth, no meter, no handler wrapper)
// each bought only a part of that gap, and the work they remove must be done;
// what is left to skip is Fastify's own per-request machinery (router, Request
// and Reply, hook runners, serializer) for this one answer. Measured A/B with
// the build before it, alternating, on a shared 2-core VM: 15–20 % less server
// CPU per protected GET, under wrk and autocannon alike.
//
// Why it answers the same bytes: the answer is not written by hand. The first
// request that qualifies goes through Fastify, and the arguments Fastify gave
// to writeHead() and end() for it are recorded; later ones replay exactly
// those calls on their own ServerResponse, which adds Date, Connection and
// Keep-Alive as it did for Fastify. A request is taken only when nothing in it
// can change the answer: GET (not HEAD), the route's exact path (no query
// string), one Authorization header whose token the service accepts without
// waiting (service.cachedCaller: anything else, an error or a user to read, goes
// to Fastify, which decides it as before; each connection keeps its last
// header's claims, service/header-memo.ts), no Origin, Cookie or body. A route
// is taken only if it reaches Fastify as mountPresets made it (no hook, its own
// handler), and none at all when the app runs per-request hooks of its own
// (CORS, debug logging). It is counted by the meter under the same route,
// method and status as Fastify's answer would be.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RouteOptions } from 'fastify';
import { HeaderMemo } from '../service/header-memo.js';
import type { UserAuth } from '../storage/types.js';
import { RequestMeter, type MeteredRoute } from './meter.js';

/** Fastify's route options that run code for a request besides the handler. */
const ROUTE_HOOKS = [
  'onRequest',
  'preParsing',
  'preValidation',
  'preHandler',
  'preSerialization',
  'onSend',
  'onResponse',
  'onTimeout',
  'onError',
  'onRequestAbort',
] as const;

interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: string | Buffer;
}

interface Lane {
  url: string;
  types: readonly string[];
  metered: MeteredRoute | undefined;
  answer: Answer | undefined;
  /** A request's answer is being recorded. */
  recording: boolean;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Request headers after which the answer is left to Fastify, by their length (names are matched ignoring case). */
const FALL_THROUGH = new Map<number, readonly string[]>([
  [6, ['origin', 'cookie']],
  [14, ['content-length']],
  [17, ['transfer-encoding']],
]);
const AUTHORIZATION = 'authorization';

/** A connection's last Authorization header and its claims (service/header-memo.ts). */
const MEMO = Symbol('latchkey.headerMemo');
type Remembering = Socket & { [MEMO]?: HeaderMemo };

const byApp = new WeakMap<object, FastLane>();

/** The fast lane of an app that buildApp made (tests read its count). */
export function fastLaneOf(app: object): FastLane | undefined {
  return byApp.get(app);
}

export class FastLane {
  /** Requests answered here (tests read it to tell the two paths apart). */
  served = 0;
  private readonly candidates = new WeakMap<object, readonly string[]>();
  /** By path. A short list compared with ===: a Map would hash each request's new URL string first. */
  private readonly lanes: Lane[] = [];

  constructor(
    private readonly service: { cachedCaller(header: string, types?: readonly string[], memo?: HeaderMemo): UserAuth | undefined },
    private readonly enabled: boolean,
  ) {}

  attach(app: object): void {
    byApp.set(app, this);
  }

  /** A constant GET's handler, before mountPresets mounts it (MountOptions.constantGet). */
  candidate(handler: RouteOptions['handler'], types: readonly string[]): void {
    if (this.enabled) this.candidates.set(handler, types);
  }

  /** Every route as Fastify mounts it (an onRoute hook, the last one to change routes): takes the candidates left as they were. */
  route(route: RouteOptions, metered: MeteredRoute | undefined): void {
    const types = this.candidates.get(route.handler);
    if (types === undefined || route.method !== 'GET' || /[:*?(]/.test(route.url) || route.constraints !== undefined) return;
    const hooks = route as unknown as Record<string, unknown>;
    if (ROUTE_HOOKS.some((h) => hooks[h] !== undefined && !(Array.isArray(hooks[h]) && hooks[h].length === 0))) return;
    const lane: Lane = { url: route.url, types, metered, answer: undefined, recording: false };
    const i = this.lanes.findIndex((l) => l.url === route.url);
    if (i < 0) this.lanes.push(lane);
    else this.lanes[i] = lane;
  }

  /** The app's request listener, with the fast lane in front of it. */
  wrap(handler: Listener): Listener {
    if (!this.enabled) return handler;
    return (req, res) => {
      if (req.method === 'GET') {
        const lane = this.laneOf(req.url);
        if (lane !== undefined && this.qualifies(lane, req)) {
          const answer = lane.answer;
          if (answer !== undefined) {
            RequestMeter.mark(req, lane.metered);
            res.writeHead(answer.status, answer.headers);
            res.end(answer.body);
            this.served++;
            return;
          }
          if (!lane.recording) record(lane, res);
        }
      }
      handler(req, res);
    };
  }

  private laneOf(url: string | undefined): Lane | undefined {
    for (const lane of this.lanes) if (lane.url === url) return lane;
    return undefined;
  }

  /** Whether nothing in the request can change the route's answer, and the service accepts its caller at once. */
  private qualifies(lane: Lane, req: IncomingMessage): boolean {
    const raw = req.rawHeaders;
    let authorization: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.length === AUTHORIZATION.length && (name === 'Authorization' || name.toLowerCase() === AUTHORIZATION)) {
        if (authorization !== undefined) return false;
        authorization = raw[i + 1]!;
        continue;
      }
      const others = FALL_THROUGH.get(name.length);
      if (others !== undefined && others.includes(name.toLowerCase())) return false;
    }
    if (authorization === undefined) return false;
    const socket = req.socket as Remembering | null;
    const memo = socket ? (socket[MEMO] ??= new HeaderMemo()) : undefined;
    return this.service.cachedCaller(authorization, lane.types, memo) !== undefined;
  }
}

/**
 * Records Fastify's answer to a qualifying request: the status and headers it
 * gives writeHead() and the body it gives end(), when it answers with exactly
 * those two calls; anything else is left unrecorded (the route then stays with Fastify).
 */
function record(lane: Lane, res: ServerResponse): void {
  const patched = ['writeHead', 'end', 'write'] as const;
  if (patched.some((m) => Object.hasOwn(res, m))) return;
  lane.recording = true;
  const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  let head: { status: number; headers: OutgoingHttpHeaders } | undefined;
  let plain = true;
  // The response's own methods again, from its prototype.
  const restore = () => patched.forEach((m) => Reflect.deleteProperty(res, m));
  res.write = ((...args: unknown[]) => {
    plain = false;
    return write(...args);
  }) as ServerResponse['write'];
  res.writeHead = ((...args: unknown[]) => {
    const [status, headers] = args;
    if (args.length === 2 && typeof status === 'number' && headers !== null && typeof headers === 'object' && !Array.isArray(headers)) {
      head = { status, headers: { ...(headers as OutgoingHttpHeaders) } };
    } else plain = false;
    return writeHead(...args);
  }) as ServerResponse['writeHead'];
  res.end = ((...args: unknown[]) => {
    restore();
    const [body, ...rest] = args;
    if (
      plain &&
      head?.status === 200 &&
      (typeof body === 'string' || Buffer.isBuffer(body)) &&
      rest.every((a) => a === null || a === undefined) &&
      res.getHeaderNames().length === 0
    ) {
      lane.answer = { ...head, body };
    } else lane.recording = false;
    return end(...args);
  }) as ServerResponse['end'];
  res.once('close', () => {
    // Answered some other way (an error, a closed socket): the next qualifying request tries again.
    if (lane.answer === undefined) {
      restore();
      lane.recording = false;
    }
  });
}
