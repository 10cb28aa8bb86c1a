#!/usr/bin/env bash
# Create the cluster's certificates (one CA, openssl only) and kubeconfigs, once.
# Existing files are kept, so a restarted cluster keeps its identities.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
mkdir -p "$PKI" "$KCFG"
cd "$PKI"

if [[ ! -f ca.crt ]]; then
  openssl req -x509 -new -noenc -newkey rsa:2048 -keyout ca.key -out ca.crt -days 3650 \
    -subj "/CN=godiag-e2e-ca" 2>/dev/null
  log "created CA"
fi

# leaf NAME SUBJECT EXT: key + CSR carrying its own extensions, signed by the CA with
# -copy_extensions copyall.
leaf() {
  local name=$1 subj=$2 ext=$3
  [[ -f $name.crt ]] && return
  openssl req -new -noenc -newkey rsa:2048 -keyout "$name.key" -out "$name.csr" -subj "$subj" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "$ext" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
    -copy_extensions copyall -out "$name.crt" 2>/dev/null
  rm -f "$name.csr"
  log "created certificate $name ($subj)"
}

client="extendedKeyUsage=clientAuth"
leaf admin                   "/O=system:masters/CN=admin"                       "$client"
leaf kubelet                 "/O=system:nodes/CN=system:node:$NODE_NAME"        "extendedKeyUsage=clientAuth,serverAuth"
leaf kube-controller-manager "/CN=system:kube-controller-manager"               "$client"
leaf kube-scheduler          "/CN=system:kube-scheduler"                        "$client"
leaf kube-proxy              "/CN=system:kube-proxy"                            "$client"
leaf apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client"               "$client"
leaf kube-apiserver "/CN=kube-apiserver" \
  "subjectAltName=IP:$NODE_IP,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"

# Service-account token signing key pair.
if [[ ! -f sa.key ]]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub
  log "created service-account key pair"
fi

# kubeconfig FILE USER: written as YAML with embedded base64 data.
kubeconfig() {
  local file=$1 user=$2
  cat > "$file" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: godiag-e2e
  cluster:
    server: $API_URL
    certificate-authority-data: $(base64 -w0 < ca.crt)
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$user.crt")
    client-key-data: $(base64 -w0 < "$user.key")
contexts:
- name: godiag-e2e
  context: {cluster: godiag-e2e, user: $user}
current-context: godiag-e2e
YAML
  chmod 600 "$file"
}
kubeconfig "$ADMIN_KUBECONFIG" admin
for u in kubelet kube-controller-manager kube-scheduler kube-proxy; do kubeconfig "$KCFG/$u.kubeconfig" "$u"; done
