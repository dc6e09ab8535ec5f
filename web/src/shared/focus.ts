/**
 * Keeping the keyboard focus in the page when what had it goes away: a
 * button that a screen change removes (Join, Send my feedback) or
 * disables (Send once the field is empty), where the browser would leave
 * the focus on <body> (the next Tab starts from the top of the page, and a
 * screen reader says nothing).
 */

/** Focuses the first of ids that is on the page and can take the focus; false when none could. */
export function focusFirst(...ids: Array<string | undefined>): boolean {
  for (const id of ids) {
    const el = id ? document.getElementById(id) : null;
    if (!el || (el as HTMLButtonElement).disabled) continue;
    el.focus();
    if (document.activeElement === el) return true;
  }
  return false;
}

/** True when nothing holds the focus (it was on an element that left the page or was disabled). */
export function focusLost(): boolean {
  const active = document.activeElement;
  return !active || active === document.body || !active.isConnected || (active as HTMLButtonElement).disabled === true;
}

/**
 * After the update under way has rendered: if the focus was lost, moves it
 * to the first of ids that can take it. Where the user put the focus
 * meanwhile, it stays.
 */
export function keepFocus(...ids: Array<string | undefined>): void {
  setTimeout(() => {
    if (focusLost()) focusFirst(...ids);
  }, 0);
}
