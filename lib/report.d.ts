// require('napi-async-trace/report'): the HTML report without the rest of
// the API (it does not load the native addon).
export { renderReport, ReportOptions } from './index'
