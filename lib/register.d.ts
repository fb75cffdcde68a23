// require('napi-async-trace/register'): loads the engine; exports the package's module.
export * from './index'
