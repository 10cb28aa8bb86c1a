# shellcheck shell=bash
# Source me: `source e2e/cluster/env.sh`. Exports KUBECONFIG for the local cluster, puts
# the kubectl wrapper first on PATH, and defines `in-cluster-netns CMD...`, which runs CMD
# inside the cluster's network namespace (the API server listens only there).
# Example: in-cluster-netns cargo test -p godiag-e2e --features e2e -- --test-threads=1
_godiag_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$_godiag_here/lib.sh"
export KUBECONFIG=$ADMIN_KUBECONFIG
export GODIAG_NETNS=$NETNS
# For `make e2e`: run the tests inside the netns, and let them use the built kubectl.
export E2E_WRAP="nsenter --net=/run/netns/$NETNS"
export KUBECTL=$K8S_BIN/kubectl
# The alert e2e installs godiag with this Helm (make test builds it).
export HELM=$HELM_BIN/helm
export PATH=$_godiag_here:$PATH
in-cluster-netns() { nsenter "--net=/run/netns/$GODIAG_NETNS" "$@"; }
unset _godiag_here
