# Build Allma Desktop on Windows (not run in CI here: there is no Windows runner yet).
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
# Output: dist\allma\allma.exe (one folder), dist\allma-onefile.exe, and, when Inno Setup
# is installed, dist\AllmaSetup-<version>.exe (per-user install, Start-menu entry,
# "Open with" for .pdf/.docx/.md/.txt).
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

if (-not (Test-Path .venv\Scripts\python.exe)) { py -3.11 -m venv .venv }
.venv\Scripts\python -m pip install -q -e . "pyinstaller>=6.10,<7"
.venv\Scripts\python packaging\make_icons.py          # packaging\windows\allma.ico

.venv\Scripts\python -m PyInstaller --noconfirm --distpath dist --workpath build\pyinstaller allma.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# The GUI exe has no console, so its output goes nowhere: run the checks and read the
# exit code. --self-test exits 0 when it passed.
$env:QT_QPA_PLATFORM = "offscreen"
$check = Start-Process dist\allma\allma.exe -ArgumentList "--self-test" -Wait -PassThru
if ($check.ExitCode -ne 0) { throw "self-test failed (exit $($check.ExitCode))" }
Remove-Item Env:QT_QPA_PLATFORM

if ($env:ALLMA_SIGN_CERT) {
  # Authenticode: a code-signing certificate (.pfx) and signtool from the Windows SDK.
  signtool sign /f $env:ALLMA_SIGN_CERT /p $env:ALLMA_SIGN_PASSWORD /fd sha256 `
    /tr http://timestamp.digicert.com /td sha256 dist\allma\allma.exe dist\allma-onefile.exe
}

$iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe"
if (Test-Path $iscc) { & $iscc packaging\windows\allma.iss } else { Write-Host "Inno Setup not found; skipping the installer" }
