/**
 * Passkeys (WebAuthn) for the staff apps (doctor and admin): the API's
 * passkey routes, adding one from the Security section, and the sign-in's
 * second step with one.
 *
 * The backend (go-webauthn) sends the options of navigator.credentials
 * create()/get() as JSON under "publicKey", with every binary field in
 * base64url (challenge, user.id, excludeCredentials[].id,
 * allowCredentials[].id), and takes the resulting PublicKeyCredential back
 * in its JSON form (what toJSON() gives: rawId, clientDataJSON,
 * attestationObject, authenticatorData, signature, userHandle in
 * base64url). The conversion is done here rather than with the browser's
 * parse*OptionsFromJSON / toJSON, which older browsers and some password
 * managers' credential objects lack.
 *
 * The routes are the same on the doctor and the admin host:
 * /api/v1/me/passkeys and /api/v1/auth/passkeys/{registration,login}[/options].
 */
import { ApiError, getJson, listBody, objectBody, requestJson, requireObject } from "./api";
import type { components } from "./api-schema";
import { parseStaffSession, type StaffSession } from "./api-types";

type Schemas = components["schemas"];
export type Passkey = Schemas["passkeyBody"];
export type PasskeyEnrolled = Schemas["passkeyEnrolledBody"];

// ---------------------------------------------------------------- API

const enc = encodeURIComponent;

/** GET /me/passkeys: the signed-in user's passkeys. */
export async function myPasskeys(): Promise<Passkey[]> {
  return (await getJson("/me/passkeys", listBody<Schemas["passkeyListBody"]>("passkeys"))).passkeys;
}

/** POST /me/passkeys/{id}/delete (409 last_factor when it is the last second factor). */
export function deletePasskey(id: string): Promise<void> {
  return requestJson("POST", `/me/passkeys/${enc(id)}/delete`, null);
}

/** POST /auth/passkeys/registration/options: options for navigator.credentials.create(), in JSON form. */
export function passkeyRegistrationOptions(): Promise<Record<string, unknown>> {
  return requestJson("POST", "/auth/passkeys/registration/options", requireObject);
}

export function finishPasskeyRegistration(name: string, credential: unknown): Promise<PasskeyEnrolled> {
  const body: Schemas["passkeyRegistrationRequest"] = { name, credential };
  return requestJson("POST", "/auth/passkeys/registration", objectBody<PasskeyEnrolled>, { body });
}

/** POST /auth/passkeys/login/options: the second step with a passkey, options for navigator.credentials.get(). */
export function passkeyLoginOptions(): Promise<Record<string, unknown>> {
  return requestJson("POST", "/auth/passkeys/login/options", requireObject);
}

export function completePasskeyLogin(credential: unknown): Promise<StaffSession> {
  const body: Schemas["passkeyLoginRequest"] = { credential };
  return requestJson("POST", "/auth/passkeys/login", parseStaffSession, { body });
}

/** The routes of the flows below (fakes in tests). */
const routes = { passkeyRegistrationOptions, finishPasskeyRegistration, passkeyLoginOptions, completePasskeyLogin };

// ---------------------------------------------------------------- base64url

/** base64url (RFC 4648 §5, with or without padding) to bytes; throws on other characters. */
export function base64urlToBuffer(s: string): ArrayBuffer {
  const clean = s.replace(/=+$/, "");
  if (!/^[A-Za-z0-9_-]*$/.test(clean) || clean.length % 4 === 1) throw new TypeError("not base64url");
  const b64 = clean.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((clean.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

/** Bytes to base64url without padding. */
export function bufferToBase64url(buf: ArrayBuffer | ArrayBufferView): string {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// ---------------------------------------------------------------- options (JSON -> browser)

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The options' publicKey object ({publicKey: {...}} or the object itself). */
function publicKeyOf(options: Json): Json {
  const pk = isObject(options["publicKey"]) ? options["publicKey"] : options;
  if (typeof pk["challenge"] !== "string") throw new TypeError("passkey options without a challenge");
  return pk;
}

function descriptors(list: unknown): PublicKeyCredentialDescriptor[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.filter(isObject).map((d) => {
    const out: PublicKeyCredentialDescriptor = { type: "public-key", id: base64urlToBuffer(String(d["id"])) };
    if (Array.isArray(d["transports"])) out.transports = d["transports"] as AuthenticatorTransport[];
    return out;
  });
}

/** The backend's registration options to what navigator.credentials.create() takes. */
export function creationOptionsFromJSON(options: Json): CredentialCreationOptions {
  const pk = publicKeyOf(options);
  const user = isObject(pk["user"]) ? pk["user"] : {};
  const publicKey = {
    ...pk,
    challenge: base64urlToBuffer(pk["challenge"] as string),
    user: { ...user, id: base64urlToBuffer(String(user["id"] ?? "")) },
  } as unknown as PublicKeyCredentialCreationOptions;
  const exclude = descriptors(pk["excludeCredentials"]);
  if (exclude) publicKey.excludeCredentials = exclude;
  return { publicKey };
}

/** The backend's login options to what navigator.credentials.get() takes. */
export function requestOptionsFromJSON(options: Json): CredentialRequestOptions {
  const pk = publicKeyOf(options);
  const publicKey = { ...pk, challenge: base64urlToBuffer(pk["challenge"] as string) } as unknown as PublicKeyCredentialRequestOptions;
  const allow = descriptors(pk["allowCredentials"]);
  if (allow) publicKey.allowCredentials = allow;
  const out: CredentialRequestOptions = { publicKey };
  if (options["mediation"] === "optional" || options["mediation"] === "required" || options["mediation"] === "silent") {
    out.mediation = options["mediation"];
  }
  return out;
}

// ---------------------------------------------------------------- credential (browser -> JSON)

/** The parts of a PublicKeyCredential read here (a fake in tests). */
export interface CredentialLike {
  id: string;
  rawId: ArrayBuffer;
  type: string;
  authenticatorAttachment?: string | null;
  getClientExtensionResults?: () => AuthenticationExtensionsClientOutputs;
  response: {
    clientDataJSON: ArrayBuffer;
    attestationObject?: ArrayBuffer;
    getTransports?: () => string[];
    authenticatorData?: ArrayBuffer;
    signature?: ArrayBuffer;
    userHandle?: ArrayBuffer | null;
  };
}

/** A PublicKeyCredential in the JSON form the backend reads (RegistrationResponseJSON / AuthenticationResponseJSON). */
export function credentialToJSON(cred: CredentialLike): Json {
  const r = cred.response;
  const response: Json = { clientDataJSON: bufferToBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response["attestationObject"] = bufferToBase64url(r.attestationObject);
    const transports = typeof r.getTransports === "function" ? r.getTransports() : undefined;
    if (transports) response["transports"] = transports;
  }
  if (r.authenticatorData) response["authenticatorData"] = bufferToBase64url(r.authenticatorData);
  if (r.signature) response["signature"] = bufferToBase64url(r.signature);
  if (r.userHandle) response["userHandle"] = bufferToBase64url(r.userHandle);
  const out: Json = {
    id: cred.id,
    rawId: bufferToBase64url(cred.rawId),
    type: cred.type,
    response,
    clientExtensionResults: typeof cred.getClientExtensionResults === "function" ? cred.getClientExtensionResults() : {},
  };
  if (cred.authenticatorAttachment) out["authenticatorAttachment"] = cred.authenticatorAttachment;
  return out;
}

// ---------------------------------------------------------------- flows

/** The part of navigator.credentials used (a fake in tests). */
export interface CredentialsContainerLike {
  create(options: CredentialCreationOptions): Promise<unknown>;
  get(options: CredentialRequestOptions): Promise<unknown>;
}

export type PasskeyApi = typeof routes;

export interface PasskeyDeps {
  api: PasskeyApi;
  /** Default navigator.credentials, when the browser has WebAuthn. */
  credentials: CredentialsContainerLike | null;
}

function browserCredentials(): CredentialsContainerLike | null {
  const nav = globalThis.navigator as Navigator | undefined;
  if (!nav?.credentials || typeof globalThis.PublicKeyCredential === "undefined") return null;
  return nav.credentials;
}

function depsOf(d: Partial<PasskeyDeps>): PasskeyDeps {
  return { api: d.api ?? routes, credentials: d.credentials === undefined ? browserCredentials() : d.credentials };
}

/** True when this browser can use passkeys. */
export function passkeysSupported(d: Partial<PasskeyDeps> = {}): boolean {
  return depsOf(d).credentials !== null;
}

/**
 * Why a passkey step failed, as a code for the UI: passkey_unsupported,
 * passkey_cancelled (the user closed the prompt, or it timed out),
 * passkey_exists (this authenticator holds one already), or the API's code
 * (invalid_passkey, passkey_host, last_factor, factor_state, throttled,
 * network, …).
 */
export function passkeyErrorCode(err: unknown): string {
  if (err instanceof ApiError) return err.code ?? (err.status === undefined ? "network" : `http_${err.status}`);
  const name = (err as { name?: unknown } | null)?.name;
  if (name === "NotAllowedError" || name === "AbortError") return "passkey_cancelled";
  if (name === "InvalidStateError") return "passkey_exists";
  if (name === "NotSupportedError" || name === "SecurityError") return "passkey_unsupported";
  return "passkey_failed";
}

/** A failure of a passkey flow, with passkeyErrorCode's code. */
export class PasskeyError extends Error {
  override readonly name = "PasskeyError";
  constructor(
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`passkey: ${code}`, options);
  }
}

async function step<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof PasskeyError ? err : new PasskeyError(passkeyErrorCode(err), { cause: err });
  }
}

function asCredential(v: unknown): CredentialLike {
  const c = v as CredentialLike | null;
  if (!c || typeof c.id !== "string" || !c.response) throw new PasskeyError("passkey_cancelled");
  return c;
}

/** Creates a passkey on this device and registers it under name (signed in, or enrolling at sign-in). */
export async function enrolPasskey(name: string, deps: Partial<PasskeyDeps> = {}): Promise<PasskeyEnrolled> {
  const d = depsOf(deps);
  const creds = d.credentials;
  if (!creds) throw new PasskeyError("passkey_unsupported");
  return step(async () => {
    const options = creationOptionsFromJSON(await d.api.passkeyRegistrationOptions());
    const cred = asCredential(await creds.create(options));
    return d.api.finishPasskeyRegistration(name, credentialToJSON(cred));
  });
}

/** The sign-in's second step with a passkey: resolves with the full session. */
export async function signInWithPasskey(deps: Partial<PasskeyDeps> = {}): Promise<StaffSession> {
  const d = depsOf(deps);
  const creds = d.credentials;
  if (!creds) throw new PasskeyError("passkey_unsupported");
  return step(async () => {
    const options = requestOptionsFromJSON(await d.api.passkeyLoginOptions());
    const cred = asCredential(await creds.get(options));
    return d.api.completePasskeyLogin(credentialToJSON(cred));
  });
}
