/**
 * Typed client for the HCW@Home backend HTTP API.
 *
 * All requests go to the same origin (the server enforces a CSP with
 * `connect-src 'self' wss:`), under API_BASE.
 */

export const API_BASE = "/api/v1";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  /** Aborts the request; an aborted request rejects with the AbortError as is. */
  signal?: AbortSignal;
  /** Replaces the global fetch (tests, or a wrapped fetch later). */
  fetch?: FetchLike;
}

/** Body of GET /api/v1/version. */
export interface VersionInfo {
  name: string;
  version: string;
  commit: string;
}

/** Any failure to get a usable answer from the API. `message` is meant to be shown to people. */
export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    message: string,
    /** The request URL path, e.g. "/api/v1/version". */
    readonly url: string,
    /** HTTP status, when a response arrived. */
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Thrown by body parsers; turned into an ApiError by the request helper. */
export class MalformedBodyError extends Error {
  override readonly name = "MalformedBodyError";
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** GET a JSON document from the API and check its shape with `parse`. */
export async function getJson<T>(
  path: string,
  parse: (body: unknown) => T,
  options: RequestOptions = {},
): Promise<T> {
  const url = API_BASE + path;
  const doFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const init: RequestInit = {
    method: "GET",
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  };
  if (options.signal) init.signal = options.signal;

  let res: Response;
  try {
    res = await doFetch(url, init);
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(`GET ${url} failed: network error (${describe(err)})`, url, undefined, {
      cause: err,
    });
  }

  if (!res.ok) {
    const text = res.statusText ? ` ${res.statusText}` : "";
    throw new ApiError(`GET ${url} failed: HTTP ${res.status}${text}`, url, res.status);
  }

  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(`GET ${url} returned a body that is not valid JSON`, url, res.status, {
      cause: err,
    });
  }

  try {
    return parse(body);
  } catch (err) {
    throw new ApiError(`GET ${url} returned a malformed body: ${describe(err)}`, url, res.status, {
      cause: err,
    });
  }
}

function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new MalformedBodyError("expected a JSON object");
  }
  return body as Record<string, unknown>;
}

function requireString(obj: Record<string, unknown>, key: string, allowEmpty = false): string {
  const value = obj[key];
  if (typeof value !== "string" || (!allowEmpty && value === "")) {
    throw new MalformedBodyError(
      `expected "${key}" to be a ${allowEmpty ? "" : "non-empty "}string`,
    );
  }
  return value;
}

/** Checks the shape of a /version body. Exported for tests and reuse. */
export function parseVersionInfo(body: unknown): VersionInfo {
  const obj = requireObject(body);
  return {
    name: requireString(obj, "name"),
    version: requireString(obj, "version"),
    commit: requireString(obj, "commit", true),
  };
}

/** GET /api/v1/version: the backend's product name, version and commit. */
export function getVersion(options: RequestOptions = {}): Promise<VersionInfo> {
  return getJson("/version", parseVersionInfo, options);
}
