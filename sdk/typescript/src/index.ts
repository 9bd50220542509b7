/** The public surface shared by the Node and edge entry points. */

import "./augment.js";

export { configure, flush, type RecordOptions, record, shutdown, stats, wrap } from "./api.js";
export type { Options } from "./config.js";
export { type Metadata, requestContext } from "./context.js";
export { ConfigError, CostObsError, PricingError, UnsupportedClientError } from "./errors.js";
export type { Usage } from "./fields.js";
export { costobsMiddleware, trackGenerateText, trackStreamText } from "./integrations/aisdk.js";
export type { Quote, QuoteRequest } from "./pricing/table.js";
export type { Stats } from "./stats.js";
export { VERSION } from "./version.js";

import { priceTable } from "./event.js";
import type { Quote, QuoteRequest } from "./pricing/table.js";

/** Price usage with the bundled table, exactly (the same figure the SDK puts on each event). */
export function quote(request: QuoteRequest): Quote {
  return priceTable().quote(request);
}
