// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { branding, resetBrandingForTests } from "../shared/branding";
import { resetI18nForTests, setLanguage } from "../shared/i18n";
import { json, refusal, settle, testScreen } from "../shared/test-support";
import { AdminApi, type SettingsBody } from "./api";
import { draftOf, settingsOf } from "./models";
import { logoProblem, SettingsSection } from "./settings";
import { fakeAdminApi, type Route, type Sent } from "./test-support";

let sent: Sent[];

/** A fake API that records every request (JSON bodies parsed, others as they are) and answers from the routes. */
const fakeApi = (routes: Route[]) => fakeAdminApi(sent, routes);
const ui = testScreen();
const { $, type, check, click, submit, chooseFile } = ui;

function body(over: Partial<SettingsBody["settings"]> = {}, logo: SettingsBody["logo"] = null): SettingsBody {
  return {
    settings: {
      product_name: "HCW@Home",
      clinic_name: "",
      primary_color: "#0b5cad",
      accent_color: "#f2a900",
      closed_consultation_retention_days: 30,
      languages: ["en", "fr", "de", "es", "it", "ar"],
      invite_ttl_minutes: null,
      invite_early_minutes: null,
      ...over,
    },
    logo,
    invite_ttl_default_minutes: 1440,
    invite_early_default_minutes: 60,
  };
}

const LOGO = { url: "/api/v1/branding/logo?v=abcd", content_type: "image/png", size: 1200, updated_at: "2026-03-01T10:00:00Z" };

let objectUrls: string[];

beforeEach(() => {
  resetI18nForTests();
  resetBrandingForTests();
  sent = [];
  objectUrls = [];
  let n = 0;
  URL.createObjectURL = vi.fn(() => {
    const u = `blob:logo-${++n}`;
    objectUrls.push(u);
    return u;
  });
  URL.revokeObjectURL = vi.fn();
});

afterEach(() => {
  vi.unstubAllGlobals();
  resetBrandingForTests();
});

async function show(api: AdminApi): Promise<void> {
  await act(() => render(<SettingsSection api={api} />, ui.container));
  await settle();
}

describe("the settings form's checks", () => {
  const defaults = { ttl: 1440, early: 60 };
  it("sends the whole document, null for the invite defaults", () => {
    const d = draftOf(body());
    expect(settingsOf({ ...d, productName: "  Care  ", primary: "#AABBCC" }, defaults)).toEqual({
      settings: { ...body().settings, product_name: "Care", primary_color: "#aabbcc", invite_ttl_minutes: null, invite_early_minutes: null },
    });
  });

  it("names the first field the API would refuse", () => {
    const d = draftOf(body());
    const field = (c: Partial<typeof d>) => {
      const r = settingsOf({ ...d, ...c }, defaults);
      return "field" in r ? r.field : null;
    };
    expect(field({ productName: " " })).toBe("product_name");
    expect(field({ productName: "x".repeat(61) })).toBe("product_name");
    expect(field({ clinicName: "x".repeat(101) })).toBe("clinic_name");
    expect(field({ primary: "blue" })).toBe("primary_color");
    expect(field({ accent: "#abc" })).toBe("accent_color");
    expect(field({ retentionDays: "0" })).toBe("closed_consultation_retention_days");
    expect(field({ retentionDays: "3651" })).toBe("closed_consultation_retention_days");
    expect(field({ retentionDays: "1.5" })).toBe("closed_consultation_retention_days");
    expect(field({ languages: [] })).toBe("languages");
    expect(field({ ttlDefault: false, ttl: "4" })).toBe("invite_ttl_minutes");
    expect(field({ earlyDefault: false, early: "10081" })).toBe("invite_early_minutes");
    // Opening early must be shorter than the validity in force, the defaults' included.
    expect(field({ earlyDefault: false, early: "1440" })).toBe("invite_early_minutes");
    expect(field({ ttlDefault: false, ttl: "60" })).toBe("invite_early_minutes");
    expect(field({ ttlDefault: false, ttl: "61" })).toBeNull();
  });

  it("checks a logo's type and size before sending it", () => {
    expect(logoProblem({ type: "image/png", size: 256 * 1024 })).toBeNull();
    expect(logoProblem({ type: "image/png", size: 256 * 1024 + 1 })).toEqual({ code: "body_too_large", field: "logo" });
    expect(logoProblem({ type: "image/svg+xml", size: 100 })).toEqual({ code: "unsupported_media_type", field: "logo" });
    expect(logoProblem({ type: "image/webp", size: 0 })).toEqual({ code: "invalid_request", field: "logo" });
  });
});

describe("settings screen", () => {
  it("loads the settings, saves them whole, announces it and puts the branding in force", async () => {
    let current = body();
    const api = fakeApi([
      [/^GET \/api\/v1\/admin\/settings$/, () => json(current)],
      [
        /^PUT \/api\/v1\/admin\/settings$/,
        (s) => {
          current = { ...current, settings: s.body as SettingsBody["settings"] };
          return json(current);
        },
      ],
    ]);
    await show(api);
    // Every field is labelled.
    for (const id of ["set-product", "set-clinic", "set-primary", "set-primary-hex", "set-accent", "set-accent-hex", "set-retention", "set-ttl", "set-ttl-default", "set-early", "set-early-default", "set-lang-fr", "logo-file"]) {
      expect($(`label[for=${id}]`), id).not.toBeNull();
    }
    expect($<HTMLInputElement>("#set-product")!.value).toBe("HCW@Home");
    expect($<HTMLInputElement>("#set-primary")!.type).toBe("color");
    expect($<HTMLInputElement>("#set-primary")!.value).toBe("#0b5cad");
    expect($<HTMLInputElement>("#set-retention")!.value).toBe("30");
    // The invite overrides: null is "use the default", which the form says.
    expect($<HTMLInputElement>("#set-ttl-default")!.checked).toBe(true);
    expect($("label[for=set-ttl-default]")!.textContent).toBe("Use the default (1,440 minutes)");
    expect($("label[for=set-early-default]")!.textContent).toBe("Use the default (60 minutes)");
    expect($<HTMLInputElement>("#set-ttl")!.disabled).toBe(true);

    await type("#set-product", "CareLink");
    await type("#set-clinic", "Clinique du Lac");
    await type("#set-primary-hex", "#FFCC00");
    await check("#set-lang-de", false);
    await check("#set-lang-ar", false);
    await check("#set-lang-de", true);
    await check("#set-ttl-default", false);
    expect($<HTMLInputElement>("#set-ttl")!.disabled).toBe(false);
    expect($<HTMLInputElement>("#set-ttl")!.value).toBe("1440");
    await type("#set-ttl", "2880");
    await type("#set-retention", "90");

    // The picker follows the code typed; the preview shows both colours and the contrast of its text.
    expect($<HTMLInputElement>("#set-primary")!.value).toBe("#ffcc00");
    expect($("#set-preview")!.dataset["primary"]).toBe("#ffcc00");
    expect($("#set-preview .hcw-brand-name")!.textContent).toBe("CareLink");
    expect($("#set-contrast")!.textContent).toContain("Black text on the primary colour: contrast");
    // A light primary is darkened for the page's text and buttons.
    expect($("#set-contrast")!.textContent).toContain("darker shade");

    await submit("#settings-save");
    const put = sent.find((s) => s.method === "PUT")!;
    expect(put.url).toBe("/api/v1/admin/settings");
    expect(put.body).toEqual({
      product_name: "CareLink",
      clinic_name: "Clinique du Lac",
      primary_color: "#ffcc00",
      accent_color: "#f2a900",
      closed_consultation_retention_days: 90,
      languages: ["en", "fr", "es", "it", "de"],
      invite_ttl_minutes: 2880,
      invite_early_minutes: null,
    });
    expect($("#settings-status")!.getAttribute("aria-live")).toBe("polite");
    expect($("#settings-status")!.textContent).toBe("The settings are saved.");
    // This app shows the new branding at once.
    expect(branding.value.productName).toBe("CareLink");
    expect(branding.value.clinicName).toBe("Clinique du Lac");
    expect(branding.value.languages).toEqual(["en", "fr", "es", "it", "de"]);
    expect(document.documentElement.style.getPropertyValue("--hcw-brand-header")).toBe("#ffcc00");
    expect(document.documentElement.style.getPropertyValue("--hcw-brand-header-contrast")).toBe("#000000");
  });

  it("shows the API's refusal next to its field, and focuses it", async () => {
    const api = fakeApi([
      [/^GET \/api\/v1\/admin\/settings$/, () => json(body())],
      [/^PUT /, () => refusal("invalid_request", 400, "invite_early_minutes")],
    ]);
    await show(api);
    await check("#set-early-default", false);
    await type("#set-early", "30");
    await submit("#settings-save");
    expect($("#set-early-error")!.textContent).toBe("Enter a whole number of minutes from 0 to 10,080, less than the invitation validity.");
    const input = $<HTMLInputElement>("#set-early")!;
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(input.getAttribute("aria-describedby")).toBe("set-early-hint set-early-error");
    expect(document.activeElement?.id).toBe("set-early");
    // The live region says the form was refused; no other field is marked.
    expect($("#settings-status [role=alert]")!.textContent).toBe("Check the form: a field is missing or invalid.");
    expect(ui.container.querySelectorAll("[aria-invalid=true]")).toHaveLength(1);
    expect($<HTMLInputElement>("#set-early")!.value).toBe("30");
  });

  it("refuses what the API would refuse without asking it: no language, a malformed colour", async () => {
    const api = fakeApi([[/^GET \/api\/v1\/admin\/settings$/, () => json(body({ languages: ["fr"] }))]]);
    await show(api);
    await check("#set-lang-fr", false);
    await submit("#settings-save");
    expect(sent.filter((s) => s.method === "PUT")).toEqual([]);
    expect($("#set-languages-error")!.textContent).toBe("Choose at least one language.");
    expect(document.activeElement?.id).toBe("set-lang-en");

    await check("#set-lang-it", true);
    await type("#set-accent-hex", "#12345");
    // The picker keeps the last valid colour while the code is being typed.
    expect($<HTMLInputElement>("#set-accent")!.value).toBe("#f2a900");
    await submit("#settings-save");
    expect($("#set-languages-error")).toBeNull();
    expect($("#set-accent-error")!.textContent).toBe("Enter a colour as #rrggbb, such as #0b5cad.");
    expect(document.activeElement?.id).toBe("set-accent-hex");
    expect(sent.filter((s) => s.method === "PUT")).toEqual([]);
  });

  it("says when the settings cannot be loaded, and tries again", async () => {
    let fail = true;
    const api = fakeApi([[/^GET \/api\/v1\/admin\/settings$/, () => (fail ? refusal("forbidden", 403) : json(body()))]]);
    await show(api);
    expect($("#settings-load-error")!.textContent).toBe("You are not allowed to do this.");
    fail = false;
    await click("#settings-retry");
    expect($<HTMLInputElement>("#set-product")!.value).toBe("HCW@Home");
  });

  it("translates the form", async () => {
    await setLanguage("fr");
    const api = fakeApi([[/^GET \/api\/v1\/admin\/settings$/, () => json(body())]]);
    await show(api);
    expect($("#admin-settings-title")!.textContent).toBe("Paramètres");
    expect($("label[for=set-ttl-default]")!.textContent).toMatch(/^Utiliser la valeur par défaut \(1\s440 minutes\)$/);
  });
});

describe("logo", () => {
  it("checks the size before sending, with the API's own words", async () => {
    const api = fakeApi([
      [/^GET \/api\/v1\/admin\/settings$/, () => json(body())],
      [/^PUT \/api\/v1\/admin\/settings\/logo$/, () => refusal("body_too_large", 413, "logo")],
    ]);
    await show(api);
    expect($("#logo-none")).not.toBeNull();
    expect($<HTMLInputElement>("#logo-file")!.accept).toBe("image/png,image/jpeg,image/webp");

    await chooseFile("#logo-file", new File([new Uint8Array(256 * 1024 + 1)], "big.png", { type: "image/png" }));
    const local = $("#logo-error")!.textContent;
    expect(local).toBe("The logo must be at most 256 KiB.");
    expect($("#logo-file")!.getAttribute("aria-invalid")).toBe("true");
    expect($("#logo-file")!.getAttribute("aria-describedby")).toBe("logo-hint logo-error");
    expect($("#logo-upload")).toBeNull();
    expect(sent.filter((s) => s.method === "PUT")).toEqual([]);

    // An SVG is refused here too.
    await chooseFile("#logo-file", new File(["<svg/>"], "logo.svg", { type: "image/svg+xml" }));
    expect($("#logo-error")!.textContent).toBe("The logo must be a PNG, JPEG or WebP image of at most 4096 × 4096 pixels.");

    // Should the API refuse the size all the same, it reads the same.
    await chooseFile("#logo-file", new File([new Uint8Array(10)], "ok.png", { type: "image/png" }));
    expect($("#logo-error")).toBeNull();
    await click("#logo-upload");
    expect($("#logo-error")!.textContent).toBe(local);
  });

  it("previews the chosen image, uploads it as the body, and removes the logo after a confirmation", async () => {
    let current = body({ clinic_name: "Clinique du Lac" });
    const api = fakeApi([
      [/^GET \/api\/v1\/admin\/settings$/, () => json(current)],
      [
        /^PUT \/api\/v1\/admin\/settings\/logo$/,
        () => {
          current = { ...current, logo: LOGO };
          return json(current);
        },
      ],
      [
        /^DELETE \/api\/v1\/admin\/settings\/logo$/,
        () => {
          current = { ...current, logo: null };
          return new Response(null, { status: 204 });
        },
      ],
    ]);
    await show(api);
    const file = new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], "clinic.png", { type: "image/png" });
    await chooseFile("#logo-file", file);
    expect($<HTMLImageElement>("#logo-preview")!.getAttribute("src")).toBe("blob:logo-1");
    expect($<HTMLImageElement>("#logo-preview")!.alt).toBe("The chosen logo, not uploaded yet");
    expect(ui.container.textContent).toContain("clinic.png");

    await click("#logo-upload");
    const put = sent.find((s) => s.method === "PUT")!;
    expect(put.url).toBe("/api/v1/admin/settings/logo");
    expect(put.body).toBe(file);
    expect(put.contentType).toBe("image/png");
    expect(URL.revokeObjectURL).toHaveBeenCalledWith("blob:logo-1");
    expect($("#logo-preview")).toBeNull();
    expect($<HTMLImageElement>("#logo-current")!.getAttribute("src")).toBe(LOGO.url);
    expect($("#logo-status")!.textContent).toBe("The logo is uploaded.");
    expect(document.activeElement?.id).toBe("logo-file");
    // The header of this app shows it at once, named by the clinic.
    expect(branding.value.logoUrl).toBe(LOGO.url);
    // The preview shows it too.
    expect($<HTMLImageElement>("#set-preview img")!.getAttribute("src")).toBe(LOGO.url);

    // Remove: asked first; No keeps it.
    await click("#logo-remove");
    expect($("#confirm-logo-remove")!.getAttribute("role")).toBe("alertdialog");
    expect(document.activeElement?.id).toBe("confirm-logo-remove-no");
    await click("#confirm-logo-remove-no");
    expect(sent.some((s) => s.method === "DELETE")).toBe(false);
    expect(document.activeElement?.id).toBe("logo-remove");

    await click("#logo-remove");
    await click("#confirm-logo-remove-yes");
    expect(sent.filter((s) => s.method === "DELETE").map((s) => s.url)).toEqual(["/api/v1/admin/settings/logo"]);
    expect($("#logo-current")).toBeNull();
    expect($("#logo-none")).not.toBeNull();
    expect($("#logo-status")!.textContent).toBe("The logo is removed.");
    expect(branding.value.logoUrl).toBeNull();
  });

  it("cancels a chosen image", async () => {
    const api = fakeApi([[/^GET \/api\/v1\/admin\/settings$/, () => json(body(undefined, LOGO))]]);
    await show(api);
    await chooseFile("#logo-file", new File([new Uint8Array(4)], "x.webp", { type: "image/webp" }));
    expect($("#logo-remove")).toBeNull(); // one thing at a time
    await click("#logo-cancel");
    expect($("#logo-preview")).toBeNull();
    expect($("#logo-remove")).not.toBeNull();
    expect(URL.revokeObjectURL).toHaveBeenCalledWith("blob:logo-1");
    expect(document.activeElement?.id).toBe("logo-file");
  });
});
