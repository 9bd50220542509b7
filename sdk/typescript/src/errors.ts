/** The SDK's one error root. Only `configure()` and `wrap()` of an unsupported client throw. */
export class CostObsError extends Error {
  override name = "CostObsError";
}

/** A bad setting: names the option or environment variable. */
export class ConfigError extends CostObsError {
  override name = "ConfigError";
}

/** A price table that does not compile, or usage that cannot be priced. */
export class PricingError extends CostObsError {
  override name = "PricingError";
}

/** `wrap()` of an object that is no supported provider client. */
export class UnsupportedClientError extends CostObsError {
  override name = "UnsupportedClientError";
}
