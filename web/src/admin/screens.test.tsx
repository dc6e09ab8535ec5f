// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { useSignal } from "@preact/signals";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { resetI18nForTests } from "../shared/i18n";
import type { Passkey, PasskeyApi } from "../shared/passkey";
import type { SecurityApi } from "../shared/security";
import { FakeCredentials, json, noContent, refusal, settle, testScreen } from "../shared/test-support";
import { DoctorAuth, type AuthApi } from "../doctor/auth";
import { AdminApi, type AdminUser, type ApiKey, type Organisation } from "./api";
import { AdminApp, ApiKeysSection, OrganisationsSection, UsersSection } from "./App";
import { fakeAdminApi, type Route, type Sent } from "./test-support";

let sent: Sent[];

const fakeApi = (routes: Route[]) => fakeAdminApi(sent, routes);
const ui = testScreen();
const { $, shown, type, choose, click, submit } = ui;

function user(id: string, role: string, status = "active", first = "Ann", last = "Lee"): AdminUser {
  return {
    id,
    email: `${id}@clinic.example`,
    first_name: first,
    last_name: last,
    language: "en",
    role,
    status,
    all_queues: false,
    created_at: "2026-03-01T10:00:00Z",
    updated_at: "2026-03-01T10:00:00Z",
  };
}

function org(id: string, name: string, members = ["a@interp.example"]): Organisation {
  return { id, name, languages: ["en", "fr"], contact_email: "desk@interp.example", members, created_at: "2026-03-01T10:00:00Z", updated_at: "2026-03-01T10:00:00Z" };
}

function key(id: string, name: string, revoked = false): ApiKey {
  return {
    id,
    user_id: "u1",
    name,
    prefix: `hcw_${id}`,
    role: "scheduler",
    created_at: "2026-03-01T10:00:00Z",
    last_used_at: null,
    revoked_at: revoked ? "2026-03-02T10:00:00Z" : null,
  };
}

beforeEach(() => {
  resetI18nForTests();
  sent = [];
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("interpreter organisations", () => {
  it("lists, then creates an organisation from the form and announces it", async () => {
    let orgs = [org("o1", "Interpreters Geneva")];
    const api = fakeApi([
      [/^GET \/api\/v1\/admin\/interpreter-organisations$/, () => json({ organisations: orgs })],
      [
        /^POST \/api\/v1\/admin\/interpreter-organisations$/,
        (s) => {
          const created = { ...org("o2", "Lingua"), ...(s.body as object) };
          orgs = [...orgs, created];
          return json(created, 201);
        },
      ],
    ]);
    await act(() => render(<OrganisationsSection api={api} />, ui.container));
    await settle();
    expect($("[data-org-id=o1] h3")!.textContent).toBe("Interpreters Geneva");
    expect($("[data-org-id=o1]")!.textContent).toContain("a@interp.example");

    // Every field is labelled.
    for (const id of ["org-name", "org-languages", "org-contact", "org-members"]) expect($(`label[for=${id}]`)).not.toBeNull();
    expect($<HTMLButtonElement>("#org-submit")!.disabled).toBe(true);
    await type("#org-name", " Lingua ");
    await type("#org-languages", "en, fr-CH  ar");
    await type("#org-contact", "office@lingua.example");
    await type("#org-members", "one@lingua.example\ntwo@lingua.example\n\none@lingua.example");
    await submit("#org-submit");

    expect(sent.filter((s) => s.method === "POST")).toEqual([
      {
        method: "POST",
        url: "/api/v1/admin/interpreter-organisations",
        contentType: "application/json",
        body: { name: "Lingua", languages: ["en", "fr-CH", "ar"], contact_email: "office@lingua.example", members: ["one@lingua.example", "two@lingua.example"] },
      },
    ]);
    expect($("#orgs-status")!.getAttribute("aria-live")).toBe("polite");
    expect($("#orgs-status")!.textContent).toBe("The organisation “Lingua” is created.");
    expect($("[data-org-id=o2] h3")!.textContent).toBe("Lingua");
    expect($<HTMLInputElement>("#org-name")!.value).toBe("");
  });

  it("edits an organisation and deletes one after a confirmation", async () => {
    let orgs = [org("o1", "Interpreters Geneva")];
    const api = fakeApi([
      [/^GET \/api\/v1\/admin\/interpreter-organisations$/, () => json({ organisations: orgs })],
      [
        /^PUT \/api\/v1\/admin\/interpreter-organisations\/o1$/,
        (s) => {
          orgs = [{ ...orgs[0]!, ...(s.body as object) }];
          return json(orgs[0]);
        },
      ],
      [
        /^DELETE \/api\/v1\/admin\/interpreter-organisations\/o1$/,
        () => {
          orgs = [];
          return noContent();
        },
      ],
    ]);
    await act(() => render(<OrganisationsSection api={api} />, ui.container));
    await settle();

    await click("#org-edit-o1");
    expect($("#org-edit-o1")!.getAttribute("aria-expanded")).toBe("true");
    expect(document.activeElement?.id).toBe("org-edit-name");
    expect($<HTMLInputElement>("#org-edit-name")!.value).toBe("Interpreters Geneva");
    expect($<HTMLTextAreaElement>("#org-edit-members")!.value).toBe("a@interp.example");
    await type("#org-edit-members", "a@interp.example\nb@interp.example");
    await submit("#org-edit-submit");
    expect(sent.find((s) => s.method === "PUT")!.body).toEqual({
      name: "Interpreters Geneva",
      languages: ["en", "fr"],
      contact_email: "desk@interp.example",
      members: ["a@interp.example", "b@interp.example"],
    });
    expect($("#org-edit-name")).toBeNull();
    expect($("#orgs-status")!.textContent).toBe("The organisation “Interpreters Geneva” is saved.");
    expect($("[data-org-id=o1]")!.textContent).toContain("b@interp.example");
    expect(document.activeElement?.id).toBe("org-edit-o1");

    // Delete: asked first; Escape keeps it.
    await click("#org-delete-o1");
    expect($("#confirm-org-delete")!.getAttribute("role")).toBe("alertdialog");
    expect($("#confirm-org-delete-title")!.textContent).toBe("Delete the organisation Interpreters Geneva");
    expect(document.activeElement?.id).toBe("confirm-org-delete-no");
    await act(() => void document.activeElement!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })));
    await settle();
    expect($("#confirm-org-delete")).toBeNull();
    expect(sent.some((s) => s.method === "DELETE")).toBe(false);
    expect(document.activeElement?.id).toBe("org-delete-o1");

    await click("#org-delete-o1");
    await click("#confirm-org-delete-yes");
    expect(sent.filter((s) => s.method === "DELETE").map((s) => s.url)).toEqual(["/api/v1/admin/interpreter-organisations/o1"]);
    expect($("#orgs-empty")).not.toBeNull();
    expect($("#orgs-status")!.textContent).toBe("The organisation “Interpreters Geneva” is deleted.");
  });

  it("shows the API's refusal: the name is taken, a field is invalid", async () => {
    let answer = refusal("organisation_name_taken", 409, "name");
    const api = fakeApi([
      [/^GET /, () => json({ organisations: [] })],
      [/^POST /, () => answer],
    ]);
    await act(() => render(<OrganisationsSection api={api} />, ui.container));
    await settle();
    await type("#org-name", "Lingua");
    await type("#org-languages", "en");
    await type("#org-members", "not-an-address");
    await submit("#org-submit");
    const alerts = () => [...ui.container.querySelectorAll("#org-status [role=alert]")].map((e) => e.textContent);
    expect(alerts()).toEqual(["An organisation with this name already exists."]);
    expect($("#org-status")!.getAttribute("aria-live")).toBe("polite");
    // The form keeps what was typed.
    expect($<HTMLInputElement>("#org-name")!.value).toBe("Lingua");

    answer = refusal("invalid_request", 400, "members");
    await submit("#org-submit");
    expect(alerts()).toEqual(["Enter 1 to 100 email addresses such as name@example.org, one per line."]);
  });
});

describe("API keys", () => {
  const users = [user("u1", "scheduler", "active", "Booking", "System"), user("u2", "admin", "active", "Ada", "Admin")];

  function keysApi() {
    let keys: ApiKey[] = [key("k1", "old key", true)];
    return fakeApi([
      [/^GET \/api\/v1\/admin\/users\/u1\/api-keys$/, () => json({ api_keys: keys })],
      [/^GET \/api\/v1\/admin\/users\/u2\/api-keys$/, () => json({ api_keys: [] })],
      [
        /^POST \/api\/v1\/admin\/api-keys$/,
        (s) => {
          const b = s.body as { name: string; role: string };
          const k = { ...key("k2", b.name), role: b.role };
          keys = [...keys, k];
          return json({ api_key: k, key: "hcw_k2.SECRET-VALUE-123" }, 201);
        },
      ],
      [
        /^POST \/api\/v1\/admin\/api-keys\/k2\/revoke$/,
        () => {
          keys = keys.map((k) => (k.id === "k2" ? { ...k, revoked_at: "2026-03-03T10:00:00Z" } : k));
          return noContent();
        },
      ],
    ]);
  }

  function Harness({ api, copy }: { api: AdminApi; copy: (text: string) => Promise<void> }) {
    // The console keeps the chosen user.
    const userId = useSignal("");
    return <ApiKeysSection api={api} users={users} userId={userId.value} onUser={(id) => (userId.value = id)} copy={copy} />;
  }

  async function mount(api: AdminApi, copy: (text: string) => Promise<void>): Promise<void> {
    await act(() => render(<Harness api={api} copy={copy} />, ui.container));
    await settle();
  }

  it("creates a key, shows its secret once with a copy button, and never again", async () => {
    const copied: string[] = [];
    await mount(keysApi(), async (text) => void copied.push(text));
    expect($("label[for=keys-user]")).not.toBeNull();
    await choose("#keys-user", "u1");
    await settle();
    expect(sent.map((s) => `${s.method} ${s.url}`)).toEqual(["GET /api/v1/admin/users/u1/api-keys"]);
    const row = $("[data-key-id=k1]")!;
    expect(row.textContent).toContain("old key");
    expect(row.textContent).toContain("Revoked on");
    expect(row.querySelector("button")).toBeNull(); // a revoked key cannot be revoked again

    // A scheduler's key has the scheduler's role: no choice offered.
    expect($("#key-role")).toBeNull();
    expect($("#key-role-fixed")!.textContent).toBe("The key has the user's role: Scheduler.");
    await type("#key-name", "Booking sync");
    await submit("#key-create");
    expect(sent.find((s) => s.method === "POST")!.body).toEqual({ user_id: "u1", name: "Booking sync", role: "scheduler" });

    const secret = $<HTMLInputElement>("#key-secret")!;
    expect(secret.value).toBe("hcw_k2.SECRET-VALUE-123");
    expect(secret.readOnly).toBe(true);
    expect($("label[for=key-secret]")).not.toBeNull();
    expect($("#key-secret-box")!.textContent).toContain("it will not be shown again");
    expect(secret.getAttribute("aria-describedby")).toBe("key-secret-once");
    expect(document.activeElement?.id).toBe("key-secret");
    expect($("#keys-status")!.textContent).toBe("The key “Booking sync” is created.");
    expect($("[data-key-id=k2]")!.textContent).toContain("Booking sync");

    await click("#key-copy");
    expect(copied).toEqual(["hcw_k2.SECRET-VALUE-123"]);
    expect($("#key-copy-status")!.textContent).toBe("Copied to the clipboard.");

    await click("#key-secret-done");
    expect($("#key-secret")).toBeNull();
    expect(shown("SECRET-VALUE")).toBe(false);
    expect(document.activeElement?.id).toBe("key-name");
  });

  it("forgets the secret when another user is chosen, and lets an admin's key take any role", async () => {
    await mount(keysApi(), async () => undefined);
    await choose("#keys-user", "u1");
    await settle();
    await type("#key-name", "Booking sync");
    await submit("#key-create");
    expect($("#key-secret")).not.toBeNull();

    expect(shown("SECRET-VALUE")).toBe(true);
    await choose("#keys-user", "u2");
    await settle();
    expect(shown("SECRET-VALUE")).toBe(false);
    expect($("#keys-empty")!.textContent).toBe("This user has no API key.");
    expect($("label[for=key-role]")).not.toBeNull();
    await choose("#key-role", "scheduler");
    await type("#key-name", "Ops");
    await submit("#key-create");
    expect(sent.filter((s) => s.method === "POST").at(-1)!.body).toEqual({ user_id: "u2", name: "Ops", role: "scheduler" });
  });

  it("revokes a key after a confirmation", async () => {
    await mount(keysApi(), async () => undefined);
    await choose("#keys-user", "u1");
    await settle();
    await type("#key-name", "Booking sync");
    await submit("#key-create");
    await click("#key-secret-done");

    await click("#revoke-k2");
    expect($("#confirm-revoke-text")!.textContent).toBe("Revoke the key “Booking sync”? Systems using it lose access at once.");
    await click("#confirm-revoke-no");
    expect(sent.some((s) => s.url.endsWith("/revoke"))).toBe(false);
    expect(document.activeElement?.id).toBe("revoke-k2");

    await click("#revoke-k2");
    await click("#confirm-revoke-yes");
    expect(sent.filter((s) => s.url.endsWith("/revoke")).map((s) => `${s.method} ${s.url}`)).toEqual(["POST /api/v1/admin/api-keys/k2/revoke"]);
    expect($("#keys-status")!.textContent).toBe("The key “Booking sync” is revoked.");
    expect($("#revoke-k2")).toBeNull();
    expect(document.activeElement?.id).toBe("admin-api-keys-title");
  });

  it("shows the API's refusal of a new key", async () => {
    const api = fakeApi([
      [/^GET /, () => json({ api_keys: [] })],
      [/^POST /, () => refusal("invalid_request", 400, "role")],
    ]);
    await mount(api, async () => undefined);
    await choose("#keys-user", "u1");
    await settle();
    await type("#key-name", "x");
    await submit("#key-create");
    expect([...ui.container.querySelectorAll("#keys-status [role=alert]")].map((e) => e.textContent)).toEqual([
      "A key has its user's role, unless the user is an administrator.",
    ]);
    expect($("#key-secret")).toBeNull();
  });
});

describe("users", () => {
  it("filters the nurses awaiting approval and approves one", async () => {
    let pending = [user("n1", "nurse", "pending_approval", "Nina", "Nurse")];
    const all = [user("d1", "doctor")];
    const api = fakeApi([
      [/^GET \/api\/v1\/admin\/users\?role=nurse&status=pending_approval&limit=100$/, () => json({ users: pending })],
      [
        /^POST \/api\/v1\/admin\/users\/n1\/approve$/,
        () => {
          pending = [];
          return json(user("n1", "nurse", "active", "Nina", "Nurse"));
        },
      ],
    ]);
    let reloads = 0;
    await act(() => render(<UsersSection api={api} users={all} reload={async () => void reloads++} />, ui.container));
    await settle();
    expect($("[data-user-id=d1]")).not.toBeNull();
    expect($("#approve-d1")).toBeNull();
    expect($("label[for=users-filter]")).not.toBeNull();

    await choose("#users-filter", "pending");
    await settle();
    expect(sent.map((s) => s.url)).toEqual(["/api/v1/admin/users?role=nurse&status=pending_approval&limit=100"]);
    expect($("[data-user-id=d1]")).toBeNull();
    const approve = $<HTMLButtonElement>("#approve-n1")!;
    expect(approve.textContent).toBe("Approve");
    expect(approve.getAttribute("aria-describedby")).toBe("user-name-n1");
    expect($("#user-name-n1")!.textContent).toBe("Nina Nurse");

    await click("#approve-n1");
    expect(sent.filter((s) => s.method === "POST").map((s) => s.url)).toEqual(["/api/v1/admin/users/n1/approve"]);
    expect(reloads).toBe(1);
    expect($("#users-status")!.getAttribute("aria-live")).toBe("polite");
    expect($("#users-status")!.textContent).toBe("Nina Nurse is approved and can now sign in.");
    expect($("#users-empty")!.textContent).toBe("No nurse is awaiting approval.");
    expect(document.activeElement?.id).toBe("admin-users-title");
  });

  it("resets a second factor after a confirmation", async () => {
    const api = fakeApi([[/^POST \/api\/v1\/admin\/users\/d1\/second-factor-reset$/, () => noContent()]]);
    const users = [user("d1", "doctor", "active", "Dan", "Doctor"), user("s1", "scheduler")];
    await act(() => render(<UsersSection api={api} users={users} reload={async () => undefined} />, ui.container));
    await settle();
    expect($("#reset-s1")).toBeNull(); // a scheduler signs in with API keys only

    await click("#reset-d1");
    expect($("#confirm-reset")!.getAttribute("role")).toBe("alertdialog");
    expect($("#confirm-reset-text")!.textContent).toContain("Reset the second factor of Dan Doctor?");
    // Named and described; the focus on the safe choice.
    expect($("#confirm-reset")!.getAttribute("aria-labelledby")).toBe("confirm-reset-title");
    expect($("#confirm-reset-title")!.textContent).toBe("Reset second factor");
    expect($("#confirm-reset")!.getAttribute("aria-describedby")).toBe("confirm-reset-text");
    expect(document.activeElement?.id).toBe("confirm-reset-no");
    await click("#confirm-reset-no");
    expect(sent).toEqual([]);
    expect(document.activeElement?.id).toBe("reset-d1");

    await click("#reset-d1");
    await click("#confirm-reset-yes");
    expect(sent.map((s) => `${s.method} ${s.url}`)).toEqual(["POST /api/v1/admin/users/d1/second-factor-reset"]);
    expect($("#confirm-reset")).toBeNull();
    expect($("#users-status")!.textContent).toBe("The second factor of Dan Doctor is reset.");
    expect(document.activeElement?.id).toBe("reset-d1");
  });

  it("disables and enables, and shows the API's refusal", async () => {
    let status = "active";
    const api = fakeApi([
      [/^POST \/api\/v1\/admin\/users\/a1\/disable$/, () => refusal("last_admin", 409)],
      [
        /^POST \/api\/v1\/admin\/users\/d1\/disable$/,
        () => {
          status = "disabled";
          return json(user("d1", "doctor", status));
        },
      ],
    ]);
    const view = () => <UsersSection api={api} users={[user("a1", "admin"), user("d1", "doctor", status, "Dan", "Doctor")]} reload={async () => render(view(), ui.container)} />;
    await act(() => render(view(), ui.container));
    await settle();

    await click("#disable-a1");
    expect([...ui.container.querySelectorAll("#users-status [role=alert]")].map((e) => e.textContent)).toEqual(["The last active administrator cannot be disabled."]);
    expect(document.activeElement?.id).toBe("disable-a1");

    await click("#disable-d1");
    expect($("#users-status [role=alert]")).toBeNull();
    expect($("#users-status")!.textContent).toBe("Dan Doctor is disabled: their sessions have ended.");
    expect($("#enable-d1")).not.toBeNull();
    expect(document.activeElement?.id).toBe("enable-d1");
  });

  it("shows an approval the API refuses", async () => {
    const api = fakeApi([
      [/^GET /, () => json({ users: [user("n1", "nurse", "pending_approval")] })],
      [/^POST /, () => refusal("invalid_transition", 409)],
    ]);
    await act(() => render(<UsersSection api={api} users={[]} reload={async () => undefined} />, ui.container));
    await choose("#users-filter", "pending");
    await settle();
    await click("#approve-n1");
    expect($("#users-status [role=alert]")!.textContent).toBe("The account is not in a state that allows this. Reload the page.");
  });
});

/** The sign-in's routes for an administrator: a password, then a second factor; /me answers once signed in (state.signedIn). */
function adminSignIn() {
  const state = { signedIn: false };
  const api: AuthApi = {
    signIn: async () => ({ level: "password", next: "verify", user_id: "a1", role: "admin", expires_at: "" }),
    secondFactor: async () => {
      state.signedIn = true;
      return { level: "full", user_id: "a1", role: "admin", expires_at: "" };
    },
    beginEnrolment: async () => ({ secret: "S", qr_png: "", otpauth_uri: "" }),
    confirmEnrolment: async () => ({ recovery_codes: [], session: { level: "full", user_id: "a1", role: "admin", expires_at: "" } }),
    setPasswordWithToken: async () => undefined,
    getMe: async () => {
      if (!state.signedIn) throw new Error("no session");
      return { id: "a1", email: "root@clinic.example", first_name: "Ada", last_name: "Admin", role: "admin" };
    },
    signOut: async () => undefined,
  };
  return { api, state };
}

/** The console's routes, with nothing in them but the administrator. */
function consoleApi(): AdminApi {
  return fakeApi([
    [/^GET \/api\/v1\/admin\/users/, () => json({ users: [user("a1", "admin", "active", "Ada", "Admin")] })],
    [/^GET \/api\/v1\/admin\/queues$/, () => json({ queues: [] })],
    [/^GET \/api\/v1\/admin\/interpreter-organisations$/, () => json({ organisations: [] })],
    [/^GET \/api\/v1\/admin\/media-nodes$/, () => json({ nodes: [] })],
    [/^GET \/api\/v1\/admin\/statistics/, () => json({ from: "2026-03-01", to: "2026-03-30", rows: [], totals: {} })],
  ]);
}

/** My passkeys, kept by a fake of /me/passkeys. */
function fakeSecurity(initial: Passkey[]) {
  const state = { keys: initial, deleted: [] as string[] };
  const api: SecurityApi = {
    myPasskeys: async () => state.keys,
    deletePasskey: async (id) => {
      state.deleted.push(id);
      state.keys = state.keys.filter((k) => k.id !== id);
    },
  };
  return { state, api };
}

const clock = { setInterval: () => 1, clearInterval: () => undefined };

describe("the admin app", () => {
  it("signs in with the shared sign-in steps, then shows the console to an administrator", async () => {
    const auth = new DoctorAuth({ api: adminSignIn().api, replaceUrl: () => undefined });
    // The shell's version line.
    vi.stubGlobal("fetch", async () => json({ name: "HCW@Home", version: "1", commit: "" }));
    const api = consoleApi();
    const security = fakeSecurity([]).api;
    await act(() => render(<AdminApp auth={auth} deps={{ api, clock, security }} />, ui.container));
    await act(() => auth.start("/", ""));
    await settle();
    expect($("#signin-email")).not.toBeNull();
    await type("#signin-email", "root@clinic.example");
    await type("#signin-password", "secret");
    await submit("#signin-submit");
    expect(document.activeElement?.id).toBe("totp-code");
    expect($("#passkey-signin")).toBeNull(); // happy-dom has no WebAuthn
    await type("#totp-code", "123456");
    await submit("#totp-submit");
    for (const id of ["admin-users", "admin-api-keys", "admin-queues", "admin-organisations", "admin-settings", "admin-media-nodes", "admin-audit", "admin-statistics", "admin-security"]) {
      expect($(`#${id}`), id).not.toBeNull();
      expect($(`nav a[href="#${id}"]`), id).not.toBeNull();
    }

    // The row's "API keys" button picks the user in the API keys section.
    await click("#keys-a1");
    expect($<HTMLSelectElement>("#keys-user")!.value).toBe("a1");
    expect(document.activeElement?.id).toBe("keys-user");
  });
  it("signs in with a passkey at the second step, and keeps the administrator's passkeys in a Security section", async () => {
    const signin = adminSignIn();
    const security = fakeSecurity([{ id: "pk1", name: "Old key", created_at: "2026-01-01T00:00:00Z" }]);
    const creds = new FakeCredentials();
    const routes: PasskeyApi = {
      passkeyRegistrationOptions: async () => ({ publicKey: { challenge: "AAEC", rp: { name: "HCW@Home" }, user: { id: "dXNlci0x", name: "root", displayName: "Ada" }, pubKeyCredParams: [] } }),
      finishPasskeyRegistration: async (name) => {
        const passkey = { id: "pk2", name, created_at: "2026-05-01T00:00:00Z" };
        security.state.keys = [...security.state.keys, passkey];
        return { passkey };
      },
      passkeyLoginOptions: async () => ({ publicKey: { challenge: "AAEC", allowCredentials: [] } }),
      completePasskeyLogin: async () => {
        signin.state.signedIn = true;
        return { level: "full", user_id: "a1", role: "admin", expires_at: "" };
      },
    };
    // A browser with WebAuthn.
    vi.stubGlobal("PublicKeyCredential", function PublicKeyCredential() {});
    Object.defineProperty(navigator, "credentials", { value: creds, configurable: true });
    vi.stubGlobal("fetch", async () => json({ name: "HCW@Home", version: "1", commit: "" }));
    try {
      const { signInWithPasskey } = await import("../shared/passkey");
      const auth = new DoctorAuth({ api: signin.api, replaceUrl: () => undefined, passkey: () => signInWithPasskey({ api: routes, credentials: creds }) });
      await act(() => render(<AdminApp auth={auth} deps={{ api: consoleApi(), clock, security: security.api, passkeys: { api: routes, credentials: creds } }} />, ui.container));
      await act(() => auth.start("/", ""));
      await settle();
      await type("#signin-email", "root@clinic.example");
      await type("#signin-password", "secret");
      await submit("#signin-submit");

      // The second step: a code, or the passkey instead.
      expect($("#totp-code")).not.toBeNull();
      expect($("#passkey-signin-hint")!.textContent).toBe("Or confirm with a passkey saved on this device.");
      await click("#passkey-signin");
      expect(creds.got).toBe(1);
      expect($("#admin-users")).not.toBeNull();

      // Security: in the menu, headed "Security", the passkeys under it.
      expect($('nav a[href="#admin-security"]')!.textContent).toBe("Security");
      const section = $("#admin-security")!;
      expect(section.getAttribute("aria-labelledby")).toBe("admin-security-title");
      expect($("#admin-security-title")!.tagName).toBe("H2");
      expect($("#admin-security-title")!.textContent).toBe("Security");
      expect($("#passkeys-title")!.tagName).toBe("H3");
      expect($("#passkey-add-title")!.tagName).toBe("H4");
      expect($("#passkey-list [data-passkey-id=pk1]")!.textContent).toContain("Old key");

      // Adds one on this device, deletes the old one after a confirmation.
      await type("#passkey-name", "Security key");
      await submit("#passkey-add");
      expect(creds.created).toBe(1);
      expect($("#passkey-list [data-passkey-id=pk2]")!.textContent).toContain("Security key");
      expect($("#passkey-status")!.textContent).toBe("The passkey was added.");
      $<HTMLButtonElement>("#passkey-delete-pk1")!.focus();
      await click("#passkey-delete-pk1");
      expect(document.activeElement?.id).toBe("cancel-passkey-delete");
      await click("#confirm-passkey-delete");
      expect(security.state.deleted).toEqual(["pk1"]);
      expect($("#passkey-list [data-passkey-id=pk1]")).toBeNull();
      expect(document.activeElement?.id).toBe("passkeys-title");
    } finally {
      delete (navigator as { credentials?: unknown }).credentials;
    }
  });
});
