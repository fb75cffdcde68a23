{
  "targets": [
    {
      "target_name": "hash",
      "sources": ["hash.c", "sha256.c"],
      "include_dirs": ["<!(node -p \"require('napi-async-trace/include')\")"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
