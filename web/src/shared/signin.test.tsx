// @vitest-environment happy-dom
import { signal } from "@preact/signals";
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resetI18nForTests } from "./i18n";
import { AuthStep, authTitle, ErrorLine, errorText, type SignInAuth, type SignInScreen } from "./signin";

/** The auth object the screens drive: it records what they ask. */
class FakeAuth implements SignInAuth {
  readonly error = signal<string | null>(null);
  readonly busy = signal(false);
  readonly calls: string[] = [];
  async signIn(email: string, password: string) {
    this.calls.push(`signIn ${email} ${password}`);
  }
  async verify(code: string) {
    this.calls.push(`verify ${code}`);
  }
  async beginEnrolment() {
    this.calls.push("beginEnrolment");
  }
  async confirmEnrolment(code: string) {
    this.calls.push(`confirmEnrolment ${code}`);
  }
  async finishEnrolment() {
    this.calls.push("finishEnrolment");
  }
  async setPassword(password: string) {
    this.calls.push(`setPassword ${password}`);
  }
}

let container: HTMLElement;
let auth: FakeAuth;

const $ = <T extends Element = HTMLElement>(sel: string) => container.querySelector<T>(sel);

async function show(screen: SignInScreen): Promise<void> {
  await act(() => render(<AuthStep auth={auth} screen={screen} />, container));
}

async function type(sel: string, value: string): Promise<void> {
  const el = $<HTMLInputElement>(sel)!;
  await act(() => {
    el.value = value;
    el.dispatchEvent(new Event("input"));
  });
}

async function submit(sel: string): Promise<void> {
  const el = $<HTMLButtonElement>(sel)!;
  await act(() => void el.form!.dispatchEvent(new Event("submit", { cancelable: true })));
}

beforeEach(() => {
  resetI18nForTests();
  container = document.createElement("div");
  document.body.appendChild(container);
  auth = new FakeAuth();
});

afterEach(() => {
  render(null, container);
  container.remove();
});

describe("error texts", () => {
  it("say the sign-in's codes, let an app add its own, and fall back to a generic text", () => {
    expect(errorText(null)).toBeNull();
    expect(errorText("invalid_credentials")).toBe("Wrong email or password.");
    expect(errorText("no_such_code")).toBe(errorText("http_500"));
    expect(errorText("no_such_code")).not.toBe("no_such_code");
    const more = (code: string) => (code === "last_admin" ? "Not the last one." : null);
    expect(errorText("last_admin", more)).toBe("Not the last one.");
    expect(errorText("invalid_credentials", more)).toBe("Wrong email or password.");
  });

  it("are announced as an alert, and nothing is shown without an error", async () => {
    await act(() => render(<ErrorLine code="throttled" id="e" />, container));
    expect($("#e")!.getAttribute("role")).toBe("alert");
    expect($("#e")!.textContent).toBe("Too many attempts. Please wait a moment, then try again.");
    await act(() => render(<ErrorLine code={null} id="e" />, container));
    expect($("#e")).toBeNull();
  });
});

describe("sign-in steps", () => {
  it("signs in with email and password, and shows the refusal tied to the form", async () => {
    await show({ name: "signin", notice: "signed_out" });
    expect($("[role=status]")!.textContent).toBe("You are signed out.");
    expect($("label[for=signin-email]")).not.toBeNull();
    expect($("label[for=signin-password]")).not.toBeNull();
    expect($<HTMLButtonElement>("#signin-submit")!.disabled).toBe(true);
    await type("#signin-email", "dr@clinic.example");
    await type("#signin-password", "pw");
    await submit("#signin-submit");
    expect(auth.calls).toEqual(["signIn dr@clinic.example pw"]);

    await act(() => {
      auth.error.value = "invalid_credentials";
    });
    expect($("#signin-error")!.textContent).toBe("Wrong email or password.");
    expect($("form")!.getAttribute("aria-describedby")).toBe("signin-error");
    await act(() => {
      auth.busy.value = true;
    });
    expect($<HTMLButtonElement>("#signin-submit")!.disabled).toBe(true);
  });

  it("asks for the second factor with the code field focused, and an app's other way in under it", async () => {
    await act(() => render(<AuthStep auth={auth} screen={{ name: "second_factor" }} secondFactorExtra={<button id="other-way">Other</button>} />, container));
    expect($("section #other-way")).not.toBeNull();
    expect(document.activeElement?.id).toBe("totp-code");
    expect($("#totp-code")!.getAttribute("aria-describedby")).toBe("totp-hint");
    await type("#totp-code", "123 456");
    await submit("#totp-submit");
    expect(auth.calls).toEqual(["verify 123 456"]);
  });

  it("enrols TOTP: QR code and key, or a retry when the secret did not come", async () => {
    await show({ name: "enrol", enrolment: null });
    await act(() => {
      auth.error.value = "network";
    });
    expect($("#enrol-error")).not.toBeNull();
    await act(() => $<HTMLButtonElement>("section button")!.click());
    expect(auth.calls).toEqual(["beginEnrolment"]);

    await act(() => {
      auth.error.value = null;
    });
    await show({ name: "enrol", enrolment: { qr_png: "AAAA", secret: "JBSWY3DP" } });
    expect($<HTMLImageElement>("img.hcw-qr")!.alt).not.toBe("");
    expect($("#totp-secret")!.textContent).toBe("JBSWY3DP");
    await type("#totp-code", "654321");
    await submit("#totp-submit");
    expect(auth.calls.at(-1)).toBe("confirmEnrolment 654321");
  });

  it("shows the recovery codes once, then goes on", async () => {
    await show({ name: "recovery", codes: ["aaaa-bbbb", "cccc-dddd"] });
    expect([...container.querySelectorAll("#recovery-codes code")].map((c) => c.textContent)).toEqual(["aaaa-bbbb", "cccc-dddd"]);
    await act(() => $<HTMLButtonElement>("#recovery-done")!.click());
    expect(auth.calls).toEqual(["finishEnrolment"]);
  });

  it("sets the password of a link only when typed twice the same", async () => {
    await show({ name: "setup", purpose: "setup" });
    await type("#setup-password", "a long passphrase");
    await type("#setup-confirm", "a long passphrase!");
    await submit("#setup-submit");
    expect(container.querySelector("[role=alert]")!.textContent).toBe("The two passwords differ.");
    expect(auth.calls).toEqual([]);
    await type("#setup-confirm", "a long passphrase");
    await submit("#setup-submit");
    expect(auth.calls).toEqual(["setPassword a long passphrase"]);
    expect(container.querySelector("[role=alert]")).toBeNull();
  });

  it("titles each step", () => {
    expect(authTitle({ name: "signin" })).toBe("Sign in");
    expect(authTitle({ name: "setup", purpose: "reset" })).toBe("Choose a new password");
    expect(authTitle({ name: "setup", purpose: "setup" })).toBe("Choose your password");
  });
});
