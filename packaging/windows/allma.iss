; Inno Setup script: a per-user installer for the one-folder build (packaging\windows\build.ps1).
#define AppVersion "0.1.0"

[Setup]
AppId={{7C3C1E52-8B0A-4F43-9C59-5B7A3C0A11A1}
AppName=Allma
AppVersion={#AppVersion}
DefaultDirName={localappdata}\Programs\Allma
DefaultGroupName=Allma
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=AllmaSetup-{#AppVersion}
SetupIconFile=allma.ico
UninstallDisplayIcon={app}\allma.exe
Compression=lzma2
SolidCompression=yes
ChangesAssociations=yes

[Files]
Source: "..\..\dist\allma\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\Allma"; Filename: "{app}\allma.exe"
Name: "{userdesktop}\Allma"; Filename: "{app}\allma.exe"; Tasks: desktopicon

[Tasks]
Name: desktopicon; Description: "Create a desktop shortcut"; Flags: unchecked

[Registry]
; "Open with Allma" for PDF, DOCX, Markdown and text (never the default handler).
Root: HKCU; Subkey: "Software\Classes\Applications\allma.exe\shell\open\command"; ValueType: string; ValueData: """{app}\allma.exe"" ""%1"""; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\Applications\allma.exe"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "Allma"
Root: HKCU; Subkey: "Software\Classes\Applications\allma.exe\SupportedTypes"; ValueType: string; ValueName: ".pdf"; ValueData: ""
Root: HKCU; Subkey: "Software\Classes\Applications\allma.exe\SupportedTypes"; ValueType: string; ValueName: ".docx"; ValueData: ""
Root: HKCU; Subkey: "Software\Classes\Applications\allma.exe\SupportedTypes"; ValueType: string; ValueName: ".md"; ValueData: ""
Root: HKCU; Subkey: "Software\Classes\Applications\allma.exe\SupportedTypes"; ValueType: string; ValueName: ".txt"; ValueData: ""
Root: HKCU; Subkey: "Software\Classes\.pdf\OpenWithList\allma.exe"; ValueType: string; ValueData: ""; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\.docx\OpenWithList\allma.exe"; ValueType: string; ValueData: ""; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\.md\OpenWithList\allma.exe"; ValueType: string; ValueData: ""; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\.txt\OpenWithList\allma.exe"; ValueType: string; ValueData: ""; Flags: uninsdeletekey
