{
  "targets": [
    {
      "target_name": "bench",
      "sources": ["bench.c"],
      "include_dirs": ["<!(node -p \"require('napi-async-trace/include')\")"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
