{
  "targets": [
    {
      "target_name": "cxrl_native",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native/core').filter(f=>f.endsWith('.cc')).map(f=>'native/core/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/ops').filter(f=>f.endsWith('.cc')).map(f=>'native/ops/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/model').filter(f=>f.endsWith('.cc')).map(f=>'native/model/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/rl').filter(f=>f.endsWith('.cc')).map(f=>'native/rl/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/io').filter(f=>f.endsWith('.cc')).map(f=>'native/io/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/phantom').filter(f=>f.endsWith('.cc')).map(f=>'native/phantom/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/bench').filter(f=>f.endsWith('.cc')).map(f=>'native/bench/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/distributed').filter(f=>f.endsWith('.cc')).map(f=>'native/distributed/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/eval').filter(f=>f.endsWith('.cc')).map(f=>'native/eval/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/binding').filter(f=>f.endsWith('.cc')).map(f=>'native/binding/'+f).join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "libraries": ["-lpthread"]
    }
  ]
}
