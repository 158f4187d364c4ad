/**
 * The layers effect-llm is assembled from (API.md §13), exported from the root as the `Layers`
 * namespace, for a stack of your own: your `HttpClient` (a proxy, `FetchHttpClient`, a recorder),
 * your ledger, your config source. `makeLiveLayer` is `compose(config, providers + HTTP, ledger)`.
 */
export {
  layerFromConfig as ledger,
  layerMemory as ledgerMemory,
  layerPostgres as ledgerPostgres,
  layerSqlite as ledgerSqlite
} from "../services/Ledger.js"
export {
  layer as config,
  layerFromConfig as configFromResolved,
  layerIsolated as configFromObject
} from "../services/LLMConfig.js"
export { layerHttp as providers } from "../services/Providers.js"
export {
  layerWith as compose,
  ledgerFromConfig,
  makeLiveLayer as live,
  nodeFileSystem,
  nodeHttpClient
} from "./Live.js"
