# node-gyp build of the Node-API addon. scripts/build.js builds the nearkit core first (CMake,
# node/cmake/) and passes its static library and link line here, with the directory of
# bindings/handle.c (the index handle's lock, shared with the Python binding):
#   node-gyp rebuild --nodedir=<node headers> --nearkit-include=<dir> --nearkit-bindings=<dir>
#                    --nearkit-libs="<items>"
{
  "variables": {
    "nearkit_include%": "../include",
    "nearkit_bindings%": "../bindings",
    "nearkit_libs%": ""
  },
  "targets": [
    {
      "target_name": "nearkit",
      "sources": ["src/nearkit_node.c", "<(nearkit_bindings)/handle.c"],
      "include_dirs": ["<(nearkit_include)", "<(nearkit_bindings)"],
      "defines": ["NEARKIT_STATIC"],
      "libraries": ["<@(nearkit_libs)"],
      "conditions": [
        ["OS=='linux'", {
          "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
          "ldflags": ["-Wl,--exclude-libs,ALL"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {"OTHER_CFLAGS": ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]}
        }]
      ]
    }
  ]
}
