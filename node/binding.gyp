# node-gyp build of the Node-API addon. scripts/build.js builds the nearkit core first (CMake,
# node/cmake/) and passes its static library and link line here:
#   node-gyp rebuild --nodedir=<node headers> --nearkit-include=<dir> --nearkit-libs="<items>"
{
  "variables": {
    "nearkit_include%": "../include",
    "nearkit_libs%": ""
  },
  "targets": [
    {
      "target_name": "nearkit",
      "sources": ["src/nearkit_node.c"],
      "include_dirs": ["<(nearkit_include)"],
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
