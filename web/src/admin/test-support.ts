/**
 * The admin tests' fake API (never imported by app code); the answers and
 * the screen helpers are in ../shared/test-support.
 */
import { refusal } from "../shared/test-support";
import { AdminApi } from "./api";

/** A request the fake API was sent: a JSON body parsed, any other (the logo) as it is. */
export interface Sent {
  method: string;
  url: string;
  body: unknown;
  contentType: string | undefined;
}

type Answer = (s: Sent) => Response | Promise<Response>;

/** A pattern of "METHOD url" and its answer. */
export type Route = [RegExp, Answer];

/**
 * An AdminApi whose fetch records every request in sent and answers it:
 * with the first route whose pattern matches "METHOD url" (a not_found
 * refusal when none does), or with answer for every request.
 */
export function fakeAdminApi(sent: Sent[], routes: Route[] | Answer): AdminApi {
  return new AdminApi({
    fetch: async (url, init) => {
      const headers = (init?.headers ?? {}) as Record<string, string>;
      const raw = init?.body;
      const s: Sent = {
        method: init?.method ?? "GET",
        url,
        body: typeof raw === "string" ? JSON.parse(raw) : raw,
        contentType: headers["Content-Type"],
      };
      sent.push(s);
      if (typeof routes === "function") return routes(s);
      const line = `${s.method} ${url}`;
      for (const [re, answer] of routes) if (re.test(line)) return answer(s);
      return refusal("not_found", 404);
    },
  });
}
