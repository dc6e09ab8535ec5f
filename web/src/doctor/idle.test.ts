import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../shared/api";
import { IdleWatch, idleOptionsFor } from "./idle";

const MIN = 60_000;

describe("IdleWatch", () => {
  let now: number;
  let expired: number;
  let pings: number;
  let keepAlive: () => Promise<unknown>;
  const target = new EventTarget();

  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_000_000;
    expired = 0;
    pings = 0;
    keepAlive = async () => void pings++;
  });
  afterEach(() => vi.useRealTimers());

  function watch(busy = () => false) {
    return new IdleWatch({
      keepAlive: () => keepAlive(),
      onExpire: () => void expired++,
      busy,
      now: () => now,
      target,
      tickMs: 1000,
    });
  }

  /** Time passes, the clock and the timers together (in 30 s steps). */
  async function pass(ms: number): Promise<void> {
    while (ms > 0) {
      const step = Math.min(ms, 30_000);
      now += step;
      ms -= step;
      await vi.advanceTimersByTimeAsync(step);
    }
  }

  it("warns after 25 idle minutes, then signs out 5 minutes later", async () => {
    const w = watch();
    w.start();
    await pass(25 * MIN - 1000);
    expect(w.phase.value.name).toBe("active");
    await pass(1000);
    const p = w.phase.value;
    expect(p).toEqual({ name: "warning", deadline: 1_000_000 + 30 * MIN });
    // Moving the mouse does not dismiss the warning: only the button does.
    target.dispatchEvent(new Event("mousemove"));
    await pass(5 * MIN);
    expect(w.phase.value.name).toBe("expired");
    expect(expired).toBe(1);
  });

  it("activity restarts the clock and keeps the server's session in step", async () => {
    const w = watch();
    w.start();
    await pass(20 * MIN);
    target.dispatchEvent(new Event("keydown"));
    expect(pings).toBe(1); // more than 5 minutes since the last request
    await pass(20 * MIN);
    expect(w.phase.value.name).toBe("active");
    target.dispatchEvent(new Event("pointerdown"));
    target.dispatchEvent(new Event("pointerdown"));
    expect(pings).toBe(2); // at most one per 5 minutes
    await pass(25 * MIN);
    expect(w.phase.value.name).toBe("warning");
  });

  it("'Stay signed in' makes a request and starts over; a session already gone signs out", async () => {
    const w = watch();
    w.start();
    await pass(26 * MIN);
    expect(w.phase.value.name).toBe("warning");
    expect(await w.stay()).toBe(true);
    expect(pings).toBe(1);
    expect(w.phase.value.name).toBe("active");
    await pass(24 * MIN);
    expect(w.phase.value.name).toBe("active");
    await pass(2 * MIN);
    expect(w.phase.value.name).toBe("warning");

    keepAlive = async () => {
      throw new ApiError("x", "/api/v1/me", undefined, { code: "network" });
    };
    expect(await w.stay()).toBe(false);
    expect(w.failed.value).toBe(true);
    expect(w.phase.value.name).toBe("warning"); // a network blip: try again

    keepAlive = async () => {
      throw new ApiError("x", "/api/v1/me", 401, { code: "unauthenticated" });
    };
    expect(await w.stay()).toBe(false);
    expect(w.phase.value.name).toBe("expired");
    expect(expired).toBe(1);
  });

  it("a call in progress counts as activity", async () => {
    let inCall = true;
    const w = watch(() => inCall);
    w.start();
    await pass(40 * MIN);
    expect(w.phase.value.name).toBe("active");
    expect(pings).toBeGreaterThanOrEqual(7);
    inCall = false;
    await pass(25 * MIN);
    expect(w.phase.value.name).toBe("warning");
  });

  it("a machine that slept past the deadline signs out at the next tick", async () => {
    const w = watch();
    w.start();
    now += 31 * MIN; // asleep: no timers ran
    await vi.advanceTimersByTimeAsync(1000);
    expect(w.phase.value.name).toBe("expired");
    expect(expired).toBe(1);
    const stop = w.start();
    stop();
  });
});

describe("idleOptionsFor", () => {
  it("signs out before the server's session can have ended", () => {
    for (const seconds of [60, 300, 1800, 4 * 3600]) {
      const o = idleOptionsFor(seconds);
      const total = seconds * 1000;
      // Worst case: the server last saw a request one keep-alive interval
      // before the last activity, and rounds its clock down by a minute.
      expect(o.idleMs! + o.warnMs! + o.keepAliveMs! + 60_000).toBeLessThanOrEqual(Math.max(total, 30_000 + o.warnMs! + o.keepAliveMs! + 60_000));
      expect(o.warnMs).toBeGreaterThan(0);
      expect(o.idleMs).toBeGreaterThanOrEqual(30_000);
    }
    expect(idleOptionsFor(1800)).toEqual({ idleMs: 21 * 60_000, warnMs: 5 * 60_000, keepAliveMs: 3 * 60_000 });
  });

  it("keeps the defaults without a usable timeout", () => {
    expect(idleOptionsFor(undefined)).toEqual({});
    expect(idleOptionsFor(0)).toEqual({});
    expect(idleOptionsFor(Number.NaN)).toEqual({});
  });
});
