{
  "targets": [
    {
      "target_name": "napi_cost",
      "sources": ["cost.c"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
