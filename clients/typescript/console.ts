// A small console module typed by the types openapi-typescript makes from the spec with
// its default options (`npm run types` writes schema.d.ts and compiles this with
// `tsc --strict`): CI proves a TypeScript front end can build on the contract.
import type { components, paths } from "./schema";

type Schemas = components["schemas"];
export type Ficha = Schemas["Ficha"];
export type Event = Schemas["EventOut"];
type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type ProblemJson<T> = T extends { content: { "application/problem+json": infer B } } ? B : never;

type ScreenPop = paths["/v1/fichas/by-phone/{phone}"]["get"];
export type ScreenPopAnswer =
  | { kind: "card"; ficha: Json<ScreenPop["responses"][200]>; etag: string | null }
  | { kind: "candidates"; candidates: Schemas["Candidate"][] }
  | { kind: "unknown caller"; phone: string }
  | { kind: "refused"; problem: Schemas["Problem"] };

type TimelinePage = Json<paths["/v1/customers/{customer_id}/timeline"]["get"]["responses"][200]>;
type Conflict = ProblemJson<paths["/v1/customers"]["post"]["responses"][409]>;

/** One line for the agent's header: name, organisation, tier, and the value's icon code. */
export function headline(ficha: Ficha): string {
  const { identity, indicators } = ficha.sections; // always there, keyed by their kind
  const organization = identity.organization ? `, ${identity.organization}` : "";
  return `${identity.display_name}${organization} (${identity.tier}) · ${indicators.value.icon}`;
}

/** Who is calling: the caller's card, the customers the number may belong to, or nobody. */
export async function screenPop(
  api: string,
  token: string,
  phone: string,
  role: string,
): Promise<ScreenPopAnswer> {
  // Path segments are encoded here, once: `+34612345678` travels as %2B34612345678.
  const url = `${api}/v1/fichas/by-phone/${encodeURIComponent(phone)}?role=${role}`;
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 200) {
    return { kind: "card", ficha: await response.json(), etag: response.headers.get("ETag") };
  }
  if (response.status === 300) {
    const choice: Schemas["CallerCandidates"] = await response.json();
    return { kind: "candidates", candidates: choice.candidates };
  }
  const problem: Schemas["Problem"] = await response.json();
  if (problem.type === "urn:customer-history:problem:caller-not-found") {
    const unknown = problem as Schemas["CallerNotFoundProblem"];
    return { kind: "unknown caller", phone: unknown.phone };
  }
  return { kind: "refused", problem };
}

/** Every event of a page, newest first, as one line each. */
export function summaries(page: TimelinePage): string[] {
  return page.items.map((event: Event) => `${event.occurred_at} ${event.type}: ${event.summary}`);
}

/** What an event's payload holds, typed by its event type. */
export type Payload<T extends keyof Schemas["EventPayloads"]> = Schemas["EventPayloads"][T];

/** An order's total as the agent reads it, for the events that are orders placed. */
export function orderTotal(event: Event): string | undefined {
  if (event.type !== "order.placed") return undefined;
  const order = event.payload as Payload<"order.placed">;
  return order.total != null && order.currency != null
    ? `${order.order_id}: ${order.total} ${order.currency}`
    : undefined;
}

/** Who already holds an identifier a new customer was to have, if the key may know. */
export function holder(conflict: Conflict): string | undefined {
  return conflict.conflicting_customer_id ?? undefined;
}
