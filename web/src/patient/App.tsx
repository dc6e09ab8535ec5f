import { useCallback, useEffect, useRef } from "preact/hooks";
import { AppShell } from "../shared/AppShell";
import type { Participation } from "../shared/api-types";
import { t } from "../shared/i18n";
import { LanguageMenu } from "../shared/LanguageMenu";
import type { PatientFlow, Screen } from "./flow";
import type { WaitingRoom } from "./room";
import { RoomScreen } from "./RoomScreen";
import { BusyScreen, EndedScreen, HomeScreen, RefusalScreen, TermsScreen, refusalTitle } from "./screens";

export interface PatientAppProps {
  flow: PatientFlow;
  /** Tests pass a room with fakes. */
  createRoom?: (p: Participation) => WaitingRoom;
}

function titleOf(screen: Screen): string {
  switch (screen.name) {
    case "loading":
      return t("common.loading");
    case "home":
      return t("home.title");
    case "terms":
    case "redeeming":
      return t("terms.title");
    case "refused":
      return refusalTitle(screen.code);
    case "room":
      return screen.participation.consultation_status === "active" ? t("room.activeTitle") : t("room.title");
    case "ended":
      return t("ended.title");
  }
}

/** The patient app: one screen at a time inside the shell. */
export function PatientApp({ flow, createRoom }: PatientAppProps) {
  const screen = flow.screen.value;
  const onEnd = useCallback((reason: Parameters<PatientFlow["end"]>[0]) => flow.end(reason), [flow]);
  const onStatus = useCallback((s: Participation["consultation_status"]) => flow.updateStatus(s), [flow]);

  // A new screen: move focus to its heading, so a screen reader reads it
  // and the keyboard starts from the top. Not on the first screen the page
  // opens on (after "loading"): there the focus stays at the top of the
  // page, and the skip link is the first Tab stop.
  const lastScreen = useRef<string | null>(null);
  const opened = useRef(false);
  useEffect(() => {
    const key = screen.name === "refused" ? `refused:${screen.code}` : screen.name;
    if (opened.current && lastScreen.current !== key && key !== "redeeming") {
      document.getElementById("page-title")?.focus();
    }
    if (key !== "loading") opened.current = true;
    lastScreen.current = key;
  }, [screen]);

  let body;
  switch (screen.name) {
    case "loading":
      body = <BusyScreen text={t("common.loading")} />;
      break;
    case "home":
      body = <HomeScreen />;
      break;
    case "terms":
      body = <TermsScreen flow={flow} />;
      break;
    case "redeeming":
      body = <BusyScreen text={t("terms.joining")} />;
      break;
    case "refused":
      body = <RefusalScreen flow={flow} screen={screen} />;
      break;
    case "room":
      body = (
        <RoomScreen participation={screen.participation} onEnd={onEnd} onStatus={onStatus} createRoom={createRoom} />
      );
      break;
    case "ended":
      body = <EndedScreen screen={screen} />;
      break;
  }

  return (
    <AppShell
      app="patient"
      title={titleOf(screen)}
      headerEnd={<LanguageMenu brandLanguages />}
      labels={{ version: t("app.version"), skip: t("app.skip") }}
    >
      {body}
    </AppShell>
  );
}
