{
  "targets": [
    {
      "target_name": "napi_async_trace",
      "sources": [
        "src/core/clock.c",
        "src/core/ids.c",
        "src/core/site.c",
        "src/core/ring.c",
        "src/core/mpsc.c",
        "src/core/pool.c",
        "src/core/warena.c",
        "src/interpose/interpose.c",
        "src/napi/api.c",
        "src/napi/env.c",
        "src/napi/binding.c",
        "src/napi/queue.c",
        "src/napi/work.c",
        "src/napi/hub.c",
        "src/napi/wrap.c",
        "src/napi/wrap_work.c",
        "src/napi/wrap_tsfn.c",
        "src/napi/wrap_binding.c"
      ],
      "include_dirs": ["include", "src/core", "src/napi", "src/interpose"],
      "defines": [
        "NAT_VERSION=\"<!(node -p \"require('./package.json').version\")\""
      ],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "xcode_settings": {
        "GCC_C_LANGUAGE_STANDARD": "gnu11",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES"
      }
    }
  ]
}
