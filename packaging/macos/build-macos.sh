#!/usr/bin/env bash
# Build Allma.app on macOS (not run in CI here: there is no macOS runner yet).
#   bash packaging/macos/build-macos.sh
# Output: dist/Allma.app and dist/Allma-<version>.dmg. Signing and notarization run when
# ALLMA_SIGN_IDENTITY ("Developer ID Application: ...") and ALLMA_NOTARY_PROFILE (a
# keychain profile made with `xcrun notarytool store-credentials`) are set.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e . "pyinstaller>=6.10,<7"
.venv/bin/python packaging/make_icons.py            # packaging/macos/allma.icns
ALLMA_BUILD=onedir .venv/bin/python -m PyInstaller --noconfirm \
  --distpath dist --workpath build/pyinstaller allma.spec

app=dist/Allma.app
"$app/Contents/MacOS/allma" --version
QT_QPA_PLATFORM=offscreen "$app/Contents/MacOS/allma" --self-test

if [ -n "${ALLMA_SIGN_IDENTITY:-}" ]; then
  codesign --deep --force --options runtime --timestamp \
    --entitlements packaging/macos/entitlements.plist --sign "$ALLMA_SIGN_IDENTITY" "$app"
  codesign --verify --deep --strict "$app"
fi
version="$(.venv/bin/python -c 'import allma_desktop; print(allma_desktop.__version__)')"
dmg="dist/Allma-$version.dmg"
rm -f "$dmg"
hdiutil create -volname Allma -srcfolder "$app" -ov -format UDZO "$dmg"
if [ -n "${ALLMA_NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$dmg" --keychain-profile "$ALLMA_NOTARY_PROFILE" --wait
  xcrun stapler staple "$dmg"
fi
echo "built $dmg"
