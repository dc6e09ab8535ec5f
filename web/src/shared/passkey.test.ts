import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import {
  PasskeyError,
  base64urlToBuffer,
  bufferToBase64url,
  creationOptionsFromJSON,
  credentialToJSON,
  enrolPasskey,
  passkeyErrorCode,
  requestOptionsFromJSON,
  signInWithPasskey,
  type CredentialLike,
  type CredentialsContainerLike,
  type PasskeyApi,
} from "./passkey";

const bytes = (...b: number[]) => new Uint8Array(b).buffer;
const arr = (buf: ArrayBuffer | BufferSource | undefined) => Array.from(new Uint8Array(buf as ArrayBuffer));

describe("base64url", () => {
  it("encodes without padding, with - and _", () => {
    expect(bufferToBase64url(bytes())).toBe("");
    expect(bufferToBase64url(bytes(0xfb))).toBe("-w");
    expect(bufferToBase64url(bytes(0xfb, 0xff))).toBe("-_8");
    expect(bufferToBase64url(bytes(0xfb, 0xff, 0xbf))).toBe("-_-_");
    expect(bufferToBase64url(new TextEncoder().encode("hello"))).toBe("aGVsbG8");
    // A view of part of a buffer encodes just that part.
    expect(bufferToBase64url(new Uint8Array([9, 1, 2, 9]).subarray(1, 3))).toBe("AQI");
  });

  it("decodes with or without padding, and round-trips every byte value", () => {
    expect(arr(base64urlToBuffer("-_-_"))).toEqual([0xfb, 0xff, 0xbf]);
    expect(arr(base64urlToBuffer("-w"))).toEqual([0xfb]);
    expect(arr(base64urlToBuffer("-w=="))).toEqual([0xfb]);
    expect(arr(base64urlToBuffer(""))).toEqual([]);
    const all = new Uint8Array(256 * 3).map((_, i) => i % 256);
    for (const len of [0, 1, 2, 3, 31, 32, 33, all.length]) {
      const part = all.slice(0, len);
      expect(arr(base64urlToBuffer(bufferToBase64url(part)))).toEqual(Array.from(part));
    }
    // Large inputs (beyond one String.fromCharCode batch) too.
    const big = new Uint8Array(100_000).map((_, i) => (i * 7) % 256);
    const back = new Uint8Array(base64urlToBuffer(bufferToBase64url(big)));
    expect(back.length === big.length && back.every((v, i) => v === big[i])).toBe(true);
  });

  it("refuses what is not base64url", () => {
    expect(() => base64urlToBuffer("a+b/")).toThrow(TypeError);
    expect(() => base64urlToBuffer("abcde")).toThrow(TypeError);
    expect(() => base64urlToBuffer("ab cd")).toThrow(TypeError);
  });
});

// What go-webauthn sends.
const CREATION = {
  publicKey: {
    rp: { name: "HCW@Home", id: "doctor.example" },
    user: { name: "dr@clinic.example", displayName: "Ada Doc", id: "dXNlci0x" },
    challenge: "AAECAwQ",
    pubKeyCredParams: [{ type: "public-key", alg: -7 }],
    timeout: 300000,
    authenticatorSelection: { residentKey: "preferred", userVerification: "preferred" },
    excludeCredentials: [{ type: "public-key", id: "Y3JlZC0x", transports: ["internal"] }],
  },
};

const REQUEST = {
  publicKey: {
    challenge: "BQYHCAk",
    timeout: 300000,
    rpId: "doctor.example",
    allowCredentials: [{ type: "public-key", id: "Y3JlZC0x" }],
    userVerification: "preferred",
  },
  mediation: "optional",
};

describe("options from JSON", () => {
  it("turns the registration options' binary fields into ArrayBuffers and keeps the rest", () => {
    const o = creationOptionsFromJSON(CREATION).publicKey!;
    expect(arr(o.challenge)).toEqual([0, 1, 2, 3, 4]);
    expect(new TextDecoder().decode(o.user.id as ArrayBuffer)).toBe("user-1");
    expect(o.user.name).toBe("dr@clinic.example");
    expect(new TextDecoder().decode(o.excludeCredentials![0]!.id as ArrayBuffer)).toBe("cred-1");
    expect(o.excludeCredentials![0]!.transports).toEqual(["internal"]);
    expect(o.rp).toEqual({ name: "HCW@Home", id: "doctor.example" });
    expect(o.pubKeyCredParams).toEqual([{ type: "public-key", alg: -7 }]);
    expect(o.authenticatorSelection).toEqual({ residentKey: "preferred", userVerification: "preferred" });
  });

  it("turns the login options' binary fields into ArrayBuffers", () => {
    const r = requestOptionsFromJSON(REQUEST);
    expect(arr(r.publicKey!.challenge)).toEqual([5, 6, 7, 8, 9]);
    expect(new TextDecoder().decode(r.publicKey!.allowCredentials![0]!.id as ArrayBuffer)).toBe("cred-1");
    expect(r.publicKey!.rpId).toBe("doctor.example");
    expect(r.mediation).toBe("optional");
    // Options without the publicKey wrapper are read too.
    expect(arr(requestOptionsFromJSON(REQUEST.publicKey).publicKey!.challenge)).toEqual([5, 6, 7, 8, 9]);
  });

  it("refuses options without a challenge", () => {
    expect(() => requestOptionsFromJSON({ publicKey: {} })).toThrow();
  });
});

function attestation(): CredentialLike {
  return {
    id: "Y3JlZC0y",
    rawId: new TextEncoder().encode("cred-2").buffer,
    type: "public-key",
    authenticatorAttachment: "platform",
    getClientExtensionResults: () => ({ credProps: { rk: true } }),
    response: {
      clientDataJSON: new TextEncoder().encode('{"type":"webauthn.create"}').buffer,
      attestationObject: bytes(0xa3, 0x01),
      getTransports: () => ["internal", "hybrid"],
    },
  };
}

function assertion(): CredentialLike {
  return {
    id: "Y3JlZC0x",
    rawId: new TextEncoder().encode("cred-1").buffer,
    type: "public-key",
    authenticatorAttachment: null,
    response: {
      clientDataJSON: new TextEncoder().encode('{"type":"webauthn.get"}').buffer,
      authenticatorData: bytes(1, 2, 3),
      signature: bytes(0x30, 0x45),
      userHandle: new TextEncoder().encode("user-1").buffer,
    },
  };
}

describe("credentialToJSON", () => {
  it("writes an attestation as RegistrationResponseJSON", () => {
    expect(credentialToJSON(attestation())).toEqual({
      id: "Y3JlZC0y",
      rawId: "Y3JlZC0y",
      type: "public-key",
      authenticatorAttachment: "platform",
      clientExtensionResults: { credProps: { rk: true } },
      response: { clientDataJSON: "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0", attestationObject: "owE", transports: ["internal", "hybrid"] },
    });
  });

  it("writes an assertion as AuthenticationResponseJSON", () => {
    expect(credentialToJSON(assertion())).toEqual({
      id: "Y3JlZC0x",
      rawId: "Y3JlZC0x",
      type: "public-key",
      clientExtensionResults: {},
      response: { clientDataJSON: "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0", authenticatorData: "AQID", signature: "MEU", userHandle: "dXNlci0x" },
    });
  });
});

class FakeCredentials implements CredentialsContainerLike {
  created: CredentialCreationOptions[] = [];
  got: CredentialRequestOptions[] = [];
  fail: Error | null = null;
  async create(o: CredentialCreationOptions): Promise<unknown> {
    this.created.push(o);
    if (this.fail) throw this.fail;
    return attestation();
  }
  async get(o: CredentialRequestOptions): Promise<unknown> {
    this.got.push(o);
    if (this.fail) throw this.fail;
    return assertion();
  }
}

function fakeApi(sent: unknown[]): PasskeyApi {
  return {
    passkeyRegistrationOptions: async () => structuredClone(CREATION),
    finishPasskeyRegistration: async (name, credential) => {
      sent.push({ name, credential });
      return { passkey: { id: "Y3JlZC0y", name, created_at: "2026-01-01T00:00:00Z" }, recovery_codes: [] };
    },
    passkeyLoginOptions: async () => structuredClone(REQUEST),
    completePasskeyLogin: async (credential) => {
      sent.push({ credential });
      return { level: "full", user_id: "doc1", role: "doctor", expires_at: "2026-01-01T12:00:00Z" };
    },
  };
}

function named(name: string): Error {
  const e = new Error(name);
  e.name = name;
  return e;
}

describe("passkey flows", () => {
  it("enrols: the backend's options go to credentials.create, the credential back as JSON", async () => {
    const creds = new FakeCredentials();
    const sent: unknown[] = [];
    const res = await enrolPasskey("Work laptop", { api: fakeApi(sent), credentials: creds });
    expect(res.passkey.name).toBe("Work laptop");
    expect(arr(creds.created[0]!.publicKey!.challenge)).toEqual([0, 1, 2, 3, 4]);
    expect(sent).toEqual([{ name: "Work laptop", credential: credentialToJSON(attestation()) }]);
  });

  it("signs in: the backend's options go to credentials.get, the assertion back as JSON", async () => {
    const creds = new FakeCredentials();
    const sent: unknown[] = [];
    const session = await signInWithPasskey({ api: fakeApi(sent), credentials: creds });
    expect(session.level).toBe("full");
    expect(arr(creds.got[0]!.publicKey!.challenge)).toEqual([5, 6, 7, 8, 9]);
    expect(sent).toEqual([{ credential: credentialToJSON(assertion()) }]);
  });

  it("reports a closed prompt, an authenticator that has one already, no WebAuthn, and the API's refusals", async () => {
    const creds = new FakeCredentials();
    const sent: unknown[] = [];
    creds.fail = named("NotAllowedError");
    await expect(signInWithPasskey({ api: fakeApi(sent), credentials: creds })).rejects.toMatchObject({ code: "passkey_cancelled" });
    creds.fail = named("InvalidStateError");
    await expect(enrolPasskey("x", { api: fakeApi(sent), credentials: creds })).rejects.toMatchObject({ code: "passkey_exists" });
    await expect(enrolPasskey("x", { api: fakeApi(sent), credentials: null })).rejects.toBeInstanceOf(PasskeyError);
    await expect(signInWithPasskey({ api: fakeApi(sent), credentials: null })).rejects.toMatchObject({ code: "passkey_unsupported" });
    const refusing: PasskeyApi = {
      ...fakeApi(sent),
      completePasskeyLogin: async () => {
        throw new ApiError("no", "/api/v1/auth/passkeys/login", 401, { code: "invalid_passkey" });
      },
    };
    creds.fail = null;
    await expect(signInWithPasskey({ api: refusing, credentials: creds })).rejects.toMatchObject({ code: "invalid_passkey" });
    // A prompt that resolves with nothing (some password managers) counts as cancelled.
    const empty: CredentialsContainerLike = { create: async () => null, get: async () => null };
    await expect(signInWithPasskey({ api: fakeApi(sent), credentials: empty })).rejects.toMatchObject({ code: "passkey_cancelled" });
    expect(sent).toEqual([]);
    expect(passkeyErrorCode(new ApiError("x", "/u"))).toBe("network");
  });
});
