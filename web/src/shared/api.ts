/**
 * Typed client for the HCW@Home backend HTTP API.
 *
 * All requests go to the same origin (the server enforces a CSP with
 * `connect-src 'self' wss:`), under API_BASE.
 */

import type { components } from "./api-schema";

export const API_BASE = "/api/v1";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  /** Aborts the request; an aborted request rejects with the AbortError as is. */
  signal?: AbortSignal;
  /** Replaces the global fetch (tests, or a wrapped fetch later). */
  fetch?: FetchLike;
}

/** Body of GET /api/v1/version. */
export type VersionInfo = components["schemas"]["versionBody"];

/** What the API's error body ({"error":{"code","message","field",...}}) and headers said. */
export interface ApiErrorDetails {
  /** The API's stable error code (e.g. "invite_expired"); "network" when no response arrived. */
  code?: string;
  /** The request field a validation error is about. */
  field?: string;
  /** Seconds from a Retry-After header (429, 503). */
  retryAfterSeconds?: number;
  /** The error object as sent, for codes that carry more (e.g. opens_at of invite_too_early). */
  body?: Readonly<Record<string, unknown>>;
}

/** Any failure to get a usable answer from the API. `message` is meant for logs and developers. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly code: string | undefined;
  readonly field: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly body: Readonly<Record<string, unknown>> | undefined;

  constructor(
    message: string,
    /** The request URL path, e.g. "/api/v1/version". */
    readonly url: string,
    /** HTTP status, when a response arrived. */
    readonly status?: number,
    options?: ErrorOptions & ApiErrorDetails,
  ) {
    super(message, options);
    this.code = options?.code;
    this.field = options?.field;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.body = options?.body;
  }

  /** True when retrying the same request later may succeed (no answer, 408, 429, 5xx). */
  get retryable(): boolean {
    const s = this.status;
    return s === undefined || s === 408 || s === 429 || s >= 500;
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

/** A request body and how to read the answer. */
export interface SendOptions extends RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
}

function retryAfter(res: Response): number | undefined {
  const raw = res.headers.get("Retry-After");
  if (raw === null) return undefined;
  const n = Number(raw);
  if (Number.isFinite(n) && n >= 0) return n;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.round((at - Date.now()) / 1000));
}

/** Reads the API's error shape from a failed response, if it has one. */
async function errorDetails(res: Response): Promise<ApiErrorDetails> {
  const details: ApiErrorDetails = {};
  const ra = retryAfter(res);
  if (ra !== undefined) details.retryAfterSeconds = ra;
  if (!(res.headers.get("Content-Type") ?? "").includes("json")) return details;
  try {
    const body: unknown = await res.json();
    const err = (body as { error?: unknown } | null)?.error;
    if (typeof err === "object" && err !== null && !Array.isArray(err)) {
      const e = err as Record<string, unknown>;
      if (typeof e["code"] === "string") details.code = e["code"];
      if (typeof e["field"] === "string") details.field = e["field"];
      details.body = e;
    }
  } catch {
    // Not the API's shape (a proxy's page): the status says enough.
  }
  return details;
}

/**
 * Sends a request to the API and checks the answer's shape with `parse`;
 * `parse` null means no body is expected (204). Cookies go along (same origin).
 */
export async function requestJson<T>(
  method: string,
  path: string,
  parse: ((body: unknown) => T) | null,
  options: SendOptions = {},
): Promise<T> {
  const url = API_BASE + path;
  const doFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const headers: Record<string, string> = { Accept: "application/json" };
  const init: RequestInit = { method, headers, credentials: "same-origin" };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  if (options.signal) init.signal = options.signal;

  let res: Response;
  try {
    res = await doFetch(url, init);
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(`${method} ${url} failed: network error (${describe(err)})`, url, undefined, {
      cause: err,
      code: "network",
    });
  }

  if (!res.ok) {
    const details = await errorDetails(res);
    const text = res.statusText ? ` ${res.statusText}` : "";
    const code = details.code ? ` (${details.code})` : "";
    throw new ApiError(`${method} ${url} failed: HTTP ${res.status}${text}${code}`, url, res.status, details);
  }
  if (parse === null) return undefined as T;

  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(`${method} ${url} returned a body that is not valid JSON`, url, res.status, {
      cause: err,
    });
  }

  try {
    return parse(body);
  } catch (err) {
    throw new ApiError(`${method} ${url} returned a malformed body: ${describe(err)}`, url, res.status, {
      cause: err,
    });
  }
}

/** GET a JSON document from the API and check its shape with `parse`. */
export function getJson<T>(
  path: string,
  parse: (body: unknown) => T,
  options: RequestOptions = {},
): Promise<T> {
  return requestJson("GET", path, parse, options);
}

/** Checks that a body is a JSON object. Exported for the parsers in api-types.ts. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new MalformedBodyError("expected a JSON object");
  }
  return body as Record<string, unknown>;
}

/**
 * A parser for a body that is an object holding an array under key: checks
 * that much and answers the body as T (the generated type of the answer).
 */
export function listBody<T>(key: string): (body: unknown) => T {
  return (body) => {
    const obj = requireObject(body);
    if (!Array.isArray(obj[key])) throw new MalformedBodyError(`expected "${key}" to be an array`);
    return obj as T;
  };
}

/** A parser that checks that the body is an object and answers it as T (the generated type of the answer). */
export function objectBody<T>(body: unknown): T {
  return requireObject(body) as T;
}

/** Checks a string field. */
export function requireString(obj: Record<string, unknown>, key: string, allowEmpty = false): string {
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
