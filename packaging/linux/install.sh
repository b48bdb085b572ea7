#!/usr/bin/env bash
# Install Allma Desktop for the current user under ~/.local: the app, a menu entry,
# its icon, and "Open with Allma" for PDF, DOCX, Markdown and text files (opening a
# file hands it to the running Allma, which adds it to the library).
#
#   bash install.sh              from an unpacked release tarball, or from a source
#                                tree after packaging/build.sh (uses dist/allma)
#   bash install.sh --uninstall  removes all of it (your library and settings stay)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
app_dir="$HOME/.local/lib/allma-desktop"
launcher="$HOME/.local/bin/allma-desktop"
desktop_file="$data_home/applications/allma-desktop.desktop"
metainfo_file="$data_home/metainfo/allma-desktop.metainfo.xml"
icon_root="$data_home/icons/hicolor"
icon_sizes=(16 22 24 32 48 64 128 256 512)

refresh_caches() {
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$data_home/applications" || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -f -t "$icon_root" || true
  fi
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$app_dir"
  rm -f "$launcher" "$desktop_file" "$metainfo_file" "$icon_root/scalable/apps/allma-desktop.svg"
  for size in "${icon_sizes[@]}"; do
    rm -f "$icon_root/${size}x${size}/apps/allma-desktop.png"
  done
  refresh_caches
  echo "Allma Desktop removed. Your library and settings are kept."
  exit 0
fi

# Where the pieces are: a release tarball (allma/ and linux/ next to this script)
# or the source tree (this script in packaging/linux, the build in dist/allma).
if [ -x "$here/allma/allma" ]; then
  app_source="$here/allma"
  linux_files="$here/linux"
  icons="$here/linux/icons"
else
  repo="$(cd "$here/../.." && pwd)"
  app_source="$repo/dist/allma"
  linux_files="$here"
  icons="$repo/allma_desktop/resources/icons"
  if [ ! -x "$app_source/allma" ]; then
    echo "No build found at $app_source; run packaging/build.sh first." >&2
    exit 1
  fi
fi

echo "Installing Allma Desktop into $app_dir"
rm -rf "$app_dir.new"
mkdir -p "$(dirname "$app_dir")"
cp -a "$app_source" "$app_dir.new"
rm -rf "$app_dir"
mv "$app_dir.new" "$app_dir"

mkdir -p "$(dirname "$launcher")"
ln -sf "$app_dir/allma" "$launcher"

mkdir -p "$(dirname "$desktop_file")" "$(dirname "$metainfo_file")"
sed "s|@EXEC@|$launcher|g" "$linux_files/allma-desktop.desktop" > "$desktop_file"
cp "$linux_files/allma-desktop.metainfo.xml" "$metainfo_file"

for size in "${icon_sizes[@]}"; do
  if [ -f "$icons/allma-$size.png" ]; then
    install -D -m 644 "$icons/allma-$size.png" "$icon_root/${size}x${size}/apps/allma-desktop.png"
  fi
done
install -D -m 644 "$icons/allma.svg" "$icon_root/scalable/apps/allma-desktop.svg"
refresh_caches

if "$launcher" --version >/dev/null 2>&1; then
  echo "Installed $("$launcher" --version). Find Allma in your applications menu,"
  echo "or right-click a PDF, DOCX, Markdown or text file and choose Open with Allma."
else
  echo "Installed, but $launcher --version failed; run it from a terminal to see why." >&2
  exit 1
fi
