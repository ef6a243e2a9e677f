// Operations endpoints: GET /healthz (liveness), GET /readyz (database and, if
// configured, Redis reachable), GET /metrics (Prometheus, through prom-client).
import type { FastifyInstance } from 'fastify';
import type { AuthEvent } from '../service.js';

export interface OpsDeps {
  /** Throws if the database cannot be reached. */
  pingDatabase: () => Promise<void>;
  /** Throws if Redis is configured and cannot be reached; undefined when there is no Redis. */
  pingRedis?: (() => Promise<void>) | undefined;
  /** Password hashes waiting or running. */
  hashQueueDepth: () => number;
  /** Subscribes to the service's events (logins, refreshes, reuse detections). */
  onAuthEvent: (listener: (event: AuthEvent) => void) => void;
}

export async function registerOps(_app: FastifyInstance, _deps: OpsDeps): Promise<void> {
  // Filled in by the operations work (issue 7).
}
