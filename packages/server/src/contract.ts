/**
 * The serving contract (layout, request schema, request checks) lives in @lctr/spec (serving.ts),
 * shared with the exporter and the tests; these names are re-exported here so the server's
 * library API keeps them (`Layout`, `Side` and `layoutOf` are the server's old names).
 */
export {
  CANDIDATE_MASK,
  type FeatureSpec,
  IdOutOfRangeError,
  type IdRange,
  type ParsedRequest,
  RequestError,
  type RequestLimits,
  type RequestSchema,
  SchemaError,
  type TensorInput,
  describeJson,
  parseScoreRequest,
  parseTensorRequest,
  requestSchemaOf,
  servingLayoutOf as layoutOf,
  tensorShapeOf,
} from '@lctr/spec';
export type { FeatureSide as Side, ServingLayout as Layout } from '@lctr/spec';
