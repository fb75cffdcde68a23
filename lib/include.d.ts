// require('napi-async-trace/include'): the directory that holds
// napi_async_trace.h, for an addon's binding.gyp include_dirs.
declare const includeDir: string
export = includeDir
