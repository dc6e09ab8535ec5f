import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../shared/api";
import type { Participation, Redeemed } from "../shared/api-types";
import { PatientFlow, TOKEN_STORAGE_KEY, refusalOf, type FlowDeps } from "./flow";

const PARTICIPATION: Participation = {
  participant_id: "p1",
  role: "patient",
  consultation_id: "c1",
  consultation_status: "pending",
  queue_name: "General practice",
};

const REDEEMED: Redeemed = {
  participant_id: "p1",
  consultation_id: "c1",
  role: "patient",
  session_expires: "2030-01-01T00:00:00Z",
};

function apiError(status: number | undefined, code?: string, extra: Record<string, unknown> = {}, retryAfterSeconds?: number) {
  const body = code ? { code, message: "…", ...extra } : undefined;
  return new ApiError(`HTTP ${status}`, "/api/v1/x", status, {
    ...(code ? { code } : {}),
    ...(body ? { body } : {}),
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  });
}

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
}

let storage: MemoryStorage;
let urls: string[];

function flow(deps: Partial<FlowDeps> = {}): PatientFlow {
  return new PatientFlow({
    redeem: vi.fn(async () => REDEEMED),
    participation: vi.fn(async () => PARTICIPATION),
    storage,
    replaceUrl: (u) => urls.push(u),
    now: Date.now,
    preferLanguage: () => {},
    ...deps,
  });
}

beforeEach(() => {
  storage = new MemoryStorage();
  urls = [];
});

afterEach(() => {
  vi.useRealTimers();
});

describe("PatientFlow", () => {
  it("takes the token from /i/<token>, hides it from the address bar, shows the terms", async () => {
    const redeem = vi.fn(async () => REDEEMED);
    const f = flow({ redeem });
    await f.start("/i/AbC-123_x");
    expect(f.screen.value).toEqual({ name: "terms" });
    expect(urls).toEqual(["/"]);
    expect(storage.getItem(TOKEN_STORAGE_KEY)).toBe("AbC-123_x");
    expect(redeem).not.toHaveBeenCalled(); // nothing before the terms are accepted

    await f.acceptTerms();
    expect(redeem).toHaveBeenCalledWith("AbC-123_x");
    expect(f.screen.value).toEqual({ name: "room", participation: PARTICIPATION });
    expect(storage.getItem(TOKEN_STORAGE_KEY)).toBeNull();
  });

  it("finds the token under a path prefix (the dev server)", async () => {
    const f = flow();
    await f.start("/apps/patient/i/tok42");
    expect(urls).toEqual(["/apps/patient/"]);
    expect(storage.getItem(TOKEN_STORAGE_KEY)).toBe("tok42");
  });

  it("goes straight back to the room on reload with a session", async () => {
    const f = flow();
    await f.start("/");
    expect(f.screen.value).toEqual({ name: "room", participation: PARTICIPATION });
  });

  it("shows the terms again on reload before the redemption", async () => {
    storage.setItem(TOKEN_STORAGE_KEY, "tok");
    const f = flow({ participation: vi.fn(async () => Promise.reject(apiError(401, "unauthenticated"))) });
    await f.start("/");
    expect(f.screen.value).toEqual({ name: "terms" });
  });

  it("shows the home page without a link or a session", async () => {
    const f = flow({ participation: vi.fn(async () => Promise.reject(apiError(401, "unauthenticated"))) });
    await f.start("/");
    expect(f.screen.value).toEqual({ name: "home" });
  });

  it.each([
    ["invite_invalid", 404],
    ["invite_revoked", 410],
    ["invite_expired", 410],
    ["consultation_closed", 410],
  ])("refuses for good on %s and forgets the token", async (code, status) => {
    const f = flow({ redeem: vi.fn(async () => Promise.reject(apiError(status, code))) });
    await f.start("/i/tok");
    await f.acceptTerms();
    expect(f.screen.value).toEqual({ name: "refused", code });
    expect(storage.getItem(TOKEN_STORAGE_KEY)).toBeNull();
  });

  it("says when a too-early link opens, and redeems by itself then", async () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2025-05-01T08:00:00Z"));
    const opensAt = "2025-05-01T08:50:00Z";
    const redeem = vi
      .fn<(t: string) => Promise<Redeemed>>()
      .mockRejectedValueOnce(apiError(409, "invite_too_early", { opens_at: opensAt }))
      .mockResolvedValue(REDEEMED);
    const f = flow({ redeem });
    await f.start("/i/tok");
    await f.acceptTerms();
    expect(f.screen.value).toEqual({ name: "refused", code: "invite_too_early", opensAt });
    expect(storage.getItem(TOKEN_STORAGE_KEY)).toBe("tok");

    await vi.advanceTimersByTimeAsync(49 * 60_000);
    expect(redeem).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(60_000 + 6000);
    expect(redeem).toHaveBeenCalledTimes(2);
    expect(f.screen.value.name).toBe("room");
  });

  it("keeps the token after throttling and a network failure, and retries on demand", async () => {
    const redeem = vi
      .fn<(t: string) => Promise<Redeemed>>()
      .mockRejectedValueOnce(apiError(429, "throttled", {}, 120))
      .mockRejectedValueOnce(apiError(undefined))
      .mockResolvedValue(REDEEMED);
    const f = flow({ redeem });
    await f.start("/i/tok");
    await f.acceptTerms();
    expect(f.screen.value).toEqual({ name: "refused", code: "throttled", retryAfterSeconds: 120 });
    await f.retry();
    expect(f.screen.value).toEqual({ name: "refused", code: "network" });
    await f.retry();
    expect(f.screen.value.name).toBe("room");
  });

  it("applies the invite's language when the backend sends it", async () => {
    const preferLanguage = vi.fn();
    const f = flow({ redeem: vi.fn(async () => ({ ...REDEEMED, language: "fr" })), preferLanguage });
    await f.start("/i/tok");
    await f.acceptTerms();
    expect(preferLanguage).toHaveBeenCalledWith("fr");
  });

  it("ends in the closed page when the consultation is already closed", async () => {
    const closed = { ...PARTICIPATION, consultation_status: "closed" as const };
    const f = flow({ participation: vi.fn(async () => closed) });
    await f.start("/");
    expect(f.screen.value).toEqual({ name: "ended", reason: "completed", participation: closed });
  });

  it("keeps the participation when the room ends", async () => {
    const f = flow();
    await f.start("/");
    f.end("cancelled");
    expect(f.screen.value).toEqual({ name: "ended", reason: "cancelled", participation: PARTICIPATION });
  });
});

describe("refusalOf", () => {
  it("maps what the API says", () => {
    expect(refusalOf(apiError(404))).toEqual({ name: "refused", code: "invite_invalid" });
    expect(refusalOf(apiError(429))).toEqual({ name: "refused", code: "throttled" });
    expect(refusalOf(apiError(500, "internal"))).toEqual({ name: "refused", code: "server" });
    expect(refusalOf(apiError(503))).toEqual({ name: "refused", code: "server" });
    expect(refusalOf(apiError(undefined, "network"))).toEqual({ name: "refused", code: "network" });
    expect(refusalOf(new Error("bug"))).toEqual({ name: "refused", code: "server" });
  });
});
