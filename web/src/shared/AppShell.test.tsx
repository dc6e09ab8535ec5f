// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, type VersionInfo } from "./api";
import { AppShell, LOADING_TEXT, UNAVAILABLE_TEXT, type VersionLoader } from "./AppShell";
import { mountApp } from "./mount";
import { waitFor } from "./test-support";

let container: HTMLElement;

beforeEach(() => {
  container = document.createElement("div");
  document.body.appendChild(container);
});

afterEach(() => {
  render(null, container);
  container.remove();
  document.body.innerHTML = "";
  delete document.body.dataset["app"];
});

function byId(id: string): HTMLElement | null {
  return container.querySelector(`#${id}`);
}

const INFO: VersionInfo = { name: "HCW@Home", version: "1.2.3", commit: "abc123" };

describe("AppShell", () => {
  it("shows the product, the app title and a loading marker, in a main landmark", async () => {
    const loader = vi.fn<VersionLoader>(() => new Promise<VersionInfo>(() => {}));
    await act(() => render(<AppShell app="doctor" loadVersion={loader} />, container));

    expect(container.textContent).toContain("HCW@Home");
    const main = container.querySelector("main");
    expect(main).not.toBeNull();
    expect(main?.querySelector("h1")?.textContent).toBe("Doctor");
    expect(container.querySelector("[data-app]")?.getAttribute("data-app")).toBe("doctor");
    expect(byId("backend-version")?.textContent).toBe(LOADING_TEXT);
    expect(byId("backend-error")).toBeNull();
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it("renders the loaded version into #backend-version", async () => {
    const loader = vi.fn<VersionLoader>(async () => INFO);
    await act(() => render(<AppShell app="patient" loadVersion={loader} />, container));

    await waitFor(() => expect(byId("backend-version")?.textContent).toBe("1.2.3"));
    expect(container.textContent).toContain("commit abc123");
    expect(byId("backend-error")).toBeNull();
    expect(container.querySelector("h1")?.textContent).toBe("Patient");
  });

  it("renders the error message into #backend-error", async () => {
    const loader = vi.fn<VersionLoader>(async () => {
      throw new ApiError("GET /api/v1/version failed: HTTP 502 Bad Gateway", "/api/v1/version", 502);
    });
    await act(() => render(<AppShell app="admin" loadVersion={loader} />, container));

    await waitFor(() => expect(byId("backend-error")).not.toBeNull());
    const error = byId("backend-error")!;
    expect(error.textContent).toContain("GET /api/v1/version failed: HTTP 502 Bad Gateway");
    expect(error.getAttribute("role")).toBe("alert");
    expect(byId("backend-version")?.textContent).toBe(UNAVAILABLE_TEXT);
    expect(container.querySelector("h1")?.textContent).toBe("Administration");
  });

  it("uses the real API client by default (fetch mocked)", async () => {
    const fetch = vi.fn(async () => new Response("nope", { status: 500, statusText: "Internal Server Error" }));
    vi.stubGlobal("fetch", fetch);
    await act(() => render(<AppShell app="patient" />, container));

    await waitFor(() =>
      expect(byId("backend-error")?.textContent).toContain("HTTP 500 Internal Server Error"),
    );
    expect(fetch).toHaveBeenCalledWith("/api/v1/version", expect.anything());
  });
});

describe("mountApp", () => {
  it("renders the shell into #app and marks the body with the app id", async () => {
    const root = document.createElement("div");
    root.id = "app";
    document.body.appendChild(root);
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => Response.json({ name: "HCW@Home", version: "4.5.6", commit: "def" })),
    );

    await act(() => mountApp("doctor"));

    expect(document.body.dataset["app"]).toBe("doctor");
    expect(document.title).toBe("HCW@Home — Doctor");
    await waitFor(() =>
      expect(root.querySelector("#backend-version")?.textContent).toBe("4.5.6"),
    );
    render(null, root);
  });

  it("fails loudly without an #app element", () => {
    expect(() => mountApp("admin")).toThrow("no #app element");
  });
});
