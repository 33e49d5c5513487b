# Sourced by scripts/test: install the Debian packages the tests drive, when missing.
#   postgresql  a throwaway server for the suite's second run
#   jing        RELAX NG validation of our Atom against RFC 4287's schema
#   newsboat    a real feed reader, run headless against our feeds
#   chromium    the browser Playwright drives for the editors' desk
#   nginx       the production front (deploy/nginx-files.conf) in tests/test_export.py
TEST_DEBS=(postgresql jing newsboat chromium nginx)

missing_debs=()
for deb in "${TEST_DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" \
        || missing_debs+=("$deb")
done
if [ ${#missing_debs[@]} -gt 0 ]; then
    echo "== installing Debian packages: ${missing_debs[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing_debs[@]}" >/dev/null
fi
