import { describe, expect, it, vi } from "vitest";
import { ApiError, getVersion, parseVersionInfo, type FetchLike } from "./api";

function jsonResponse(body: unknown, init: ResponseInit = {}): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status: 200,
    headers: { "Content-Type": "application/json" },
    ...init,
  });
}

function fetchReturning(res: Response) {
  return vi.fn<FetchLike>(async () => res);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected the promise to reject");
}

describe("getVersion", () => {
  it("parses a good response", async () => {
    const fetch = fetchReturning(
      jsonResponse({ name: "HCW@Home", version: "1.2.3", commit: "abc123" }),
    );
    await expect(getVersion({ fetch })).resolves.toEqual({
      name: "HCW@Home",
      version: "1.2.3",
      commit: "abc123",
    });
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe("/api/v1/version");
    expect(init?.method).toBe("GET");
    expect(new Headers(init?.headers).get("Accept")).toBe("application/json");
  });

  it("ignores extra fields and keeps only the known ones", async () => {
    const fetch = fetchReturning(
      jsonResponse({ name: "HCW@Home", version: "0.1.0", commit: "", extra: 1 }),
    );
    await expect(getVersion({ fetch })).resolves.toEqual({
      name: "HCW@Home",
      version: "0.1.0",
      commit: "",
    });
  });

  it("uses the global fetch by default", async () => {
    const fetch = fetchReturning(jsonResponse({ name: "HCW@Home", version: "9.9.9", commit: "f" }));
    vi.stubGlobal("fetch", fetch);
    await expect(getVersion()).resolves.toMatchObject({ version: "9.9.9" });
    expect(fetch).toHaveBeenCalledWith("/api/v1/version", expect.anything());
  });

  it("throws a clear ApiError on a non-2xx status", async () => {
    const fetch = fetchReturning(
      new Response("upstream down", { status: 503, statusText: "Service Unavailable" }),
    );
    const err = await rejection(getVersion({ fetch }));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect((err as ApiError).message).toBe(
      "GET /api/v1/version failed: HTTP 503 Service Unavailable",
    );
  });

  it("throws on 404 even with a JSON body that looks right", async () => {
    const fetch = fetchReturning(
      jsonResponse({ name: "HCW@Home", version: "1.0.0", commit: "x" }, { status: 404 }),
    );
    const err = await rejection(getVersion({ fetch }));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toContain("HTTP 404");
  });

  it.each([
    ["a missing version", { name: "HCW@Home", commit: "abc" }, 'expected "version" to be a non-empty string'],
    ["an empty version", { name: "HCW@Home", version: "", commit: "abc" }, '"version"'],
    ["a numeric version", { name: "HCW@Home", version: 1, commit: "abc" }, '"version"'],
    ["a missing name", { version: "1.0.0", commit: "abc" }, '"name"'],
    ["a missing commit", { name: "HCW@Home", version: "1.0.0" }, '"commit"'],
    ["an array", [1, 2], "expected a JSON object"],
    ["null", null, "expected a JSON object"],
  ])("throws a clear ApiError on a malformed body: %s", async (_label, body, detail) => {
    const fetch = fetchReturning(jsonResponse(body));
    const err = await rejection(getVersion({ fetch }));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(/^GET \/api\/v1\/version returned a malformed body: /);
    expect((err as ApiError).message).toContain(detail);
    expect((err as ApiError).status).toBe(200);
  });

  it("throws a clear ApiError when the body is not JSON", async () => {
    const fetch = fetchReturning(
      new Response("<html>proxy error</html>", { status: 200, headers: { "Content-Type": "text/html" } }),
    );
    const err = await rejection(getVersion({ fetch }));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe("GET /api/v1/version returned a body that is not valid JSON");
  });

  it("throws a clear ApiError on a network failure", async () => {
    const fetch = vi.fn<FetchLike>(async () => {
      throw new TypeError("Failed to fetch");
    });
    const err = await rejection(getVersion({ fetch }));
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBeUndefined();
    expect((err as ApiError).message).toBe("GET /api/v1/version failed: network error (Failed to fetch)");
  });

  it("passes an abort through unchanged and forwards the signal", async () => {
    const controller = new AbortController();
    const fetch = vi.fn<FetchLike>(async (_url, init) => {
      expect(init?.signal).toBe(controller.signal);
      throw new DOMException("The operation was aborted.", "AbortError");
    });
    controller.abort();
    const err = await rejection(getVersion({ fetch, signal: controller.signal }));
    expect(err).not.toBeInstanceOf(ApiError);
    expect((err as Error).name).toBe("AbortError");
  });
});

describe("parseVersionInfo", () => {
  it("rejects a string body", () => {
    expect(() => parseVersionInfo("1.2.3")).toThrow("expected a JSON object");
  });
});
