import type { Model } from '../../core/api/index.js';
import { formatDuration, type JobStatus } from '../../core/hive/index.js';

/**
 * A controller's name, as Cilium's are kebab-case and unique: the one the job asked for, else
 * the job's module (its last segment) and the job's name, e.g. `conntrack-ct-gc`,
 * `daemon-probe-bpf-maps`.
 */
export function controllerName(j: Pick<JobStatus, 'module' | 'name' | 'controller'>): string {
  if (j.controller !== undefined) return j.controller;
  const mod = j.module.split('.').at(-1) ?? j.module;
  return mod === '' ? j.name : `${mod}-${j.name}`;
}

/**
 * /healthz `controllers`: Cilium's ControllerStatus for each of the hive's jobs (timers,
 * observers, one-shots such as the reconcilers' loops, the status probes), their counts being
 * the successes and failures the jobs reported.
 */
export function controllerStatuses(jobs: readonly JobStatus[]): Model<'ControllerStatuses'> {
  return jobs.map((j) => ({
    name: controllerName(j),
    uuid: j.uuid,
    configuration: {
      interval: formatDuration(j.intervalMs ?? 0),
      'error-retry': j.errorRetry,
      ...(j.errorRetryBaseMs !== undefined
        ? { 'error-retry-base': formatDuration(j.errorRetryBaseMs) }
        : {}),
    },
    status: {
      'success-count': j.successCount,
      'failure-count': j.failureCount,
      'consecutive-failure-count': j.consecutiveFailureCount,
      ...(j.lastSuccess ? { 'last-success-timestamp': j.lastSuccess.toISOString() } : {}),
      ...(j.lastFailure ? { 'last-failure-timestamp': j.lastFailure.toISOString() } : {}),
      ...(j.lastFailureMsg !== undefined ? { 'last-failure-msg': j.lastFailureMsg } : {}),
    },
  }));
}
