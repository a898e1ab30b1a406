// Kubernetes Status objects (kind Status, apiVersion v1) and the error that carries one from the
// API server double's logic to its HTTP answer, shaped and worded as kube-apiserver's.

/** One cause in a Status's details (a field and what is wrong with it). */
export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

/** A Status's details: which object, and why. */
export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly uid?: string;
  readonly causes?: readonly StatusCause[];
  readonly retryAfterSeconds?: number;
}

/** A Kubernetes Status object as on the wire. */
export interface K8sStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure' | 'Success';
  readonly message?: string;
  readonly reason?: string;
  readonly details?: StatusDetails;
  readonly code: number;
}

/** A failed request: its HTTP code, Kubernetes reason, message and details. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  /** The Status object the API server answers with. */
  status(): K8sStatus {
    return failure(this.code, this.reason, this.message, this.details);
  }
}

/** A Failure Status. */
export function failure(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
): K8sStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/** What names a resource in messages: `pods`, `endpointslices.discovery.k8s.io`. */
export interface QualifiedResource {
  readonly group: string;
  readonly plural: string;
}

function qualified(r: QualifiedResource): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

function objDetails(r: QualifiedResource, name: string): StatusDetails {
  return { name, ...(r.group ? { group: r.group } : {}), kind: r.plural };
}

/** 404 NotFound for an object. */
export function notFound(r: QualifiedResource, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, objDetails(r, name));
}

/** 409 AlreadyExists on create. */
export function alreadyExists(r: QualifiedResource, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${qualified(r)} "${name}" already exists`,
    objDetails(r, name),
  );
}

/** 409 Conflict: a stale metadata.resourceVersion (optimistic concurrency) or failed precondition. */
export function conflict(r: QualifiedResource, name: string, why?: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${
      why ??
      'the object has been modified; please apply your changes to the latest version and try again'
    }`,
    objDetails(r, name),
  );
}

/** 422 Invalid: `Pod "x" is invalid: <field>: <message>` with one cause per field. */
export function invalid(
  r: QualifiedResource,
  kind: string,
  name: string,
  causes: readonly StatusCause[],
): ApiError {
  const text = causes.map((c) => `${c.field ?? ''}: ${c.message ?? ''}`).join(', ');
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${text}`, {
    name,
    ...(r.group ? { group: r.group } : {}),
    kind,
    causes,
  });
}

/** 400 BadRequest. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

/** 410 Expired: a resourceVersion or continue token older than the kept history. */
export function expired(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

/** 404 for a path the server does not serve. */
export function pathNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}
