import { token } from './token.js';
import { Subject, type Observable } from 'rxjs';

/** How a component is doing. */
export type Level = 'ok' | 'degraded' | 'stopped';

/** The latest report of one component, keyed by its dotted path (`agent.infra.api.server`). */
export interface HealthStatus {
  readonly id: string;
  readonly level: Level;
  readonly message: string;
  readonly error?: string;
  /** When the component last reported ok. */
  readonly lastOk?: Date;
  readonly updated: Date;
  /** How many reports in a row had this level and message. */
  readonly count: number;
}

/** What a cell uses to report its health; scopes nest under the module's path. */
export interface Health {
  ok(message: string): void;
  degraded(message: string, error?: unknown): void;
  stopped(message: string): void;
  /** A child component, e.g. one per job or per reconciler. */
  scope(name: string): Health;
  /** Removes this component's status (and its children's) from the tree. */
  close(): void;
}

/** A node of the health tree: a path segment, its own status if any, and its children. */
export interface HealthNode {
  readonly name: string;
  readonly id: string;
  readonly level: Level;
  readonly status?: HealthStatus;
  readonly children: readonly HealthNode[];
}

/** A readable message for anything thrown. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return Object.prototype.toString.call(e);
  }
}

function errorText(e: unknown): string | undefined {
  return e === undefined ? undefined : errorMessage(e);
}

/** Holds every component's latest status and builds the tree `cellium status` shows. */
export class HealthRegistry {
  private readonly statuses = new Map<string, HealthStatus>();
  private readonly updates = new Subject<HealthStatus>();

  /** Emits each report as it is made. */
  get updates$(): Observable<HealthStatus> {
    return this.updates.asObservable();
  }

  /** The Health handle for a path. */
  forPath(id: string): Health {
    return {
      ok: (message) => {
        this.report(id, 'ok', message);
      },
      degraded: (message, error) => {
        this.report(id, 'degraded', message, errorText(error));
      },
      stopped: (message) => {
        this.report(id, 'stopped', message);
      },
      scope: (name) => this.forPath(`${id}.${name}`),
      close: () => {
        for (const k of this.statuses.keys()) {
          if (k === id || k.startsWith(`${id}.`)) this.statuses.delete(k);
        }
      },
    };
  }

  /** Records a report for a path. */
  report(id: string, level: Level, message: string, error?: string): void {
    const prev = this.statuses.get(id);
    const now = new Date();
    const same = prev?.level === level && prev.message === message;
    const status: HealthStatus = {
      id,
      level,
      message,
      ...(error !== undefined ? { error } : {}),
      ...(level === 'ok' ? { lastOk: now } : prev?.lastOk ? { lastOk: prev.lastOk } : {}),
      updated: now,
      count: same ? prev.count + 1 : 1,
    };
    this.statuses.set(id, status);
    this.updates.next(status);
  }

  /** The status of one path, if it reported. */
  get(id: string): HealthStatus | undefined {
    return this.statuses.get(id);
  }

  /** Every status, sorted by path. */
  all(): HealthStatus[] {
    return [...this.statuses.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The tree below `root` (default: everything); a node's level is its worst descendant's. */
  tree(root = ''): HealthNode {
    const build = (id: string, name: string): HealthNode => {
      const prefix = id === '' ? '' : `${id}.`;
      const childNames = new Set<string>();
      for (const k of this.statuses.keys()) {
        if (k.startsWith(prefix) && k !== id) {
          const rest = k.slice(prefix.length);
          childNames.add(rest.split('.')[0] ?? rest);
        }
      }
      const children = [...childNames].sort().map((c) => build(`${prefix}${c}`, c));
      const status = this.statuses.get(id);
      return {
        name,
        id,
        level: worst(status?.level, children),
        ...(status ? { status } : {}),
        children,
      };
    };
    return build(root, root.split('.').at(-1) ?? root);
  }
}

function worst(own: Level | undefined, children: readonly HealthNode[]): Level {
  const levels = [...(own ? [own] : []), ...children.map((c) => c.level)];
  if (levels.includes('degraded')) return 'degraded';
  if (levels.length > 0 && levels.every((l) => l === 'stopped')) return 'stopped';
  return 'ok';
}

/** The module-scoped health reporter. */
export const Health = token<Health>('hive/Health');

/** The whole hive's health registry (for /healthz and `cellium status`). */
export const HealthTree = token<HealthRegistry>('hive/HealthTree');
