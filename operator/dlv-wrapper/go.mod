module godiag.dev/dlv-wrapper

go 1.25
