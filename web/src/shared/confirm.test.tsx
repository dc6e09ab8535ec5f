// @vitest-environment happy-dom
/**
 * The shared inline confirmation: named and described, the focus on its
 * safe choice, Escape cancels, the focus back to its opener (or a
 * fallback) when it closes.
 */
import { render } from "preact";
import { act } from "preact/test-utils";
import { useSignal } from "@preact/signals";
import { beforeEach, describe, expect, it } from "vitest";
import { Confirm } from "./confirm";
import { resetI18nForTests } from "./i18n";
import { settle, testScreen } from "./test-support";

const ui = testScreen();
const { $, click } = ui;

beforeEach(() => resetI18nForTests());

/** A button that opens the confirmation, which "deletes" the button when confirmed (keepOpener: it stays, disabled or not). */
function Harness({ onYes, keepOpener = "none" }: { onYes?: () => void; keepOpener?: "none" | "enabled" | "disabled" }) {
  const open = useSignal(false);
  const done = useSignal(false);
  return (
    <div>
      <h2 id="heading" tabIndex={-1}>
        Things
      </h2>
      <input id="elsewhere" />
      {(!done.value || keepOpener !== "none") && (
        <button type="button" id="opener" disabled={done.value && keepOpener === "disabled"} onClick={() => (open.value = true)}>
          Delete
        </button>
      )}
      {open.value && (
        <Confirm
          id="dlg"
          title="Delete the thing"
          text="Delete the thing? It cannot be undone."
          yes="Yes, delete it"
          onYes={() => {
            onYes?.();
            done.value = true;
            open.value = false;
          }}
          onNo={() => (open.value = false)}
          returnFocus="opener"
          fallbackFocus="heading"
        />
      )}
    </div>
  );
}

/** Opens the dialog the way a browser does: the opener has the focus when it is clicked. */
async function openDialog(): Promise<void> {
  $<HTMLButtonElement>("#opener")!.focus();
  await click("#opener");
}

async function escape(): Promise<void> {
  await act(() => void document.activeElement!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })));
  await settle();
}

describe("Confirm", () => {
  it("is an alertdialog named by its title and described by its text, with the focus on Cancel", async () => {
    await act(() => render(<Harness />, ui.container));
    await openDialog();
    const dlg = $("#dlg")!;
    expect(dlg.getAttribute("role")).toBe("alertdialog");
    expect($(`#${dlg.getAttribute("aria-labelledby")}`)!.textContent).toBe("Delete the thing");
    expect($(`#${dlg.getAttribute("aria-describedby")}`)!.textContent).toBe("Delete the thing? It cannot be undone.");
    expect(document.activeElement?.id).toBe("dlg-no");
    expect($("#dlg-no")!.textContent).toBe("Cancel");
    expect($("#dlg-yes")!.className).toContain("hcw-button-danger");
  });

  it("cancels on Escape and gives the focus back to its opener; so does Cancel", async () => {
    let yes = 0;
    await act(() => render(<Harness onYes={() => yes++} />, ui.container));
    await openDialog();
    await escape();
    expect($("#dlg")).toBeNull();
    expect(document.activeElement?.id).toBe("opener");

    await openDialog();
    await click("#dlg-no");
    expect($("#dlg")).toBeNull();
    expect(document.activeElement?.id).toBe("opener");
    expect(yes).toBe(0);
  });

  it("puts the focus on the fallback when its opener is gone or disabled", async () => {
    await act(() => render(<Harness />, ui.container));
    await openDialog();
    await click("#dlg-yes");
    expect($("#opener")).toBeNull();
    expect(document.activeElement?.id).toBe("heading");

    render(null, ui.container);
    await act(() => render(<Harness keepOpener="disabled" />, ui.container));
    await openDialog();
    await click("#dlg-yes");
    expect($<HTMLButtonElement>("#opener")!.disabled).toBe(true);
    expect(document.activeElement?.id).toBe("heading");
  });

  it("leaves the focus where the user put it meanwhile", async () => {
    const outside = { close: () => undefined as void };
    function Outside() {
      const open = useSignal(true);
      outside.close = () => (open.value = false);
      return (
        <div>
          <button type="button" id="opener">
            Delete
          </button>
          <input id="elsewhere" />
          {open.value && <Confirm id="dlg" title="T" text="X" yes="Yes" onYes={() => undefined} onNo={() => (open.value = false)} returnFocus="opener" />}
        </div>
      );
    }
    await act(() => render(<Outside />, ui.container));
    await settle();
    expect(document.activeElement?.id).toBe("dlg-no");
    $<HTMLInputElement>("#elsewhere")!.focus();
    await act(() => outside.close());
    await settle();
    expect(document.activeElement?.id).toBe("elsewhere");
  });

  it("keeps the focus on its confirm button while busy, and ignores presses then", async () => {
    let yes = 0;
    const busy = { set: (_: boolean) => undefined as void };
    function Busy() {
      const b = useSignal(false);
      busy.set = (v) => (b.value = v);
      return <Confirm id="dlg" title="T" text="X" yes="Yes" busy={b.value} onYes={() => (yes += 1)} onNo={() => undefined} returnFocus="opener" />;
    }
    await act(() => render(<Busy />, ui.container));
    await settle();
    $<HTMLButtonElement>("#dlg-yes")!.focus();
    await act(() => busy.set(true));
    await settle();
    const button = $<HTMLButtonElement>("#dlg-yes")!;
    expect(button.getAttribute("aria-disabled")).toBe("true");
    expect(button.disabled, "a disabled button would drop the focus").toBe(false);
    expect(document.activeElement?.id).toBe("dlg-yes");
    await click("#dlg-yes");
    expect(yes).toBe(0);
    await act(() => busy.set(false));
    expect($("#dlg-yes")!.hasAttribute("aria-disabled")).toBe(false);
    await click("#dlg-yes");
    expect(yes).toBe(1);
  });
});
