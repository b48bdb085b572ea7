"""The app shell's and chat widgets' stylesheet, in the theme's colours (light or dark).

The theme (``gui/theme.py``) holds the palettes and sets the app-wide look; this adds
the chat-specific touches (message cards, chips, the composer) keyed on object names.
"""

from __future__ import annotations

from allma_desktop.gui.theme import Colors


def shell_stylesheet(c: Colors) -> str:
    return f"""
    QMainWindow, #chatView, #transcript, #transcriptScroll, #firstRunPanel, #pageStack {{
        background: {c.window}; color: {c.text};
    }}
    #sidebar {{ background: {c.sidebar}; border-right: 1px solid {c.divider}; }}
    #sidebar QListView {{ background: transparent; border: none; outline: none; }}
    #sidebar QListView::item {{ border-radius: 8px; padding: 4px 6px; color: {c.text}; }}
    #sidebar QListView::item:hover {{ background: {c.hover}; }}
    #sidebar QListView::item:selected {{ background: {c.hover}; color: {c.text}; }}
    #sidebarCaption, #mutedLabel {{ color: {c.muted}; }}
    #sidebarCaption {{ font-size: 11px; font-weight: 600; padding: 6px 4px 0 4px; }}
    #newChatButton {{
        background: {c.accent}; color: {c.accent_text}; border: none; border-radius: 8px;
        padding: 8px 12px; font-weight: 600; text-align: left;
    }}
    #newChatButton:hover {{ background: {c.accent}; }}
    #conversationSearch {{
        background: {c.surface}; color: {c.text}; border: 1px solid {c.divider};
        border-radius: 8px; padding: 6px 8px;
    }}
    #navButton {{
        background: transparent; color: {c.text}; border: none; border-radius: 8px;
        padding: 7px 10px; text-align: left;
    }}
    #navButton:hover {{ background: {c.hover}; }}
    #navButton:checked {{ background: {c.hover}; font-weight: 600; }}
    #chatHeader {{ background: {c.window}; border-bottom: 1px solid {c.divider}; }}
    #chatTitle {{ font-size: 15px; font-weight: 600; color: {c.text}; }}
    #chatHeader QComboBox {{
        background: {c.chip}; color: {c.text}; border: 1px solid {c.divider};
        border-radius: 7px; padding: 4px 10px; min-height: 20px;
    }}
    #userMessage {{
        background: {c.user_bubble}; border-radius: 12px; margin-left: 80px;
    }}
    #assistantMessage {{ background: transparent; border: none; }}
    #messageAuthor {{ color: {c.muted}; font-size: 12px; font-weight: 600; }}
    #messageStatus {{ color: {c.muted}; font-style: italic; }}
    #messageStatus[error="true"] {{ color: {c.danger}; font-style: normal; }}
    #messageAction {{
        color: {c.muted}; border: none; border-radius: 6px; padding: 2px 8px;
        background: transparent;
    }}
    #messageAction:hover {{ background: {c.hover}; color: {c.text}; }}
    #thinkingToggle {{ color: {c.muted}; border: none; background: transparent; padding: 2px; }}
    #thinkingBody {{
        color: {c.muted}; border-left: 3px solid {c.divider}; padding: 2px 0 2px 10px;
    }}
    #sourcesCaption {{ color: {c.muted}; font-size: 12px; font-weight: 600; }}
    #sourceChip {{
        background: {c.chip}; color: {c.text}; border: 1px solid {c.divider};
        border-radius: 12px; padding: 3px 10px; font-size: 12px;
    }}
    #sourceChip:hover, #sourceChip:checked {{ border-color: {c.accent}; }}
    #snippetPanel {{
        background: {c.chip}; border: 1px solid {c.divider}; border-radius: 10px;
    }}
    #snippetTitle {{ font-weight: 600; color: {c.text}; }}
    #composer {{ background: {c.window}; }}
    #composerBox {{
        background: {c.surface}; border: 1px solid {c.divider}; border-radius: 14px;
    }}
    #chatInput {{ background: transparent; color: {c.text}; border: none; font-size: 14px; }}
    #sendButton, #primaryButton {{
        background: {c.accent}; color: {c.accent_text}; border: none; border-radius: 9px;
        padding: 7px 16px; font-weight: 600;
    }}
    #stopButton {{
        background: {c.chip}; color: {c.text}; border: 1px solid {c.divider};
        border-radius: 9px; padding: 7px 16px; font-weight: 600;
    }}
    #editBanner {{ color: {c.accent}; font-size: 12px; padding-left: 6px; }}
    #emptyHeadline {{ font-size: 24px; font-weight: 600; color: {c.text}; }}
    #emptyHint {{ color: {c.muted}; font-size: 14px; }}
    #firstRunCard {{
        background: {c.surface}; border: 1px solid {c.divider}; border-radius: 16px;
    }}
    #firstRunHeadline {{ font-size: 22px; font-weight: 600; color: {c.text}; }}
    #firstRunText {{ color: {c.text}; font-size: 14px; }}
    #stepNumber {{
        background: {c.accent}; color: {c.accent_text}; border-radius: 13px; font-weight: 600;
    }}
    #modelName {{ font-weight: 600; font-family: monospace; }}
    #pullButton, #checkAgainButton, #secondaryButton, #openSourceButton {{
        background: {c.chip}; color: {c.text}; border: 1px solid {c.divider};
        border-radius: 9px; padding: 6px 14px;
    }}
    #pullButton:hover, #checkAgainButton:hover, #secondaryButton:hover,
    #openSourceButton:hover {{ border-color: {c.accent}; }}
    #appStatusBar {{
        background: {c.sidebar}; color: {c.muted}; border-top: 1px solid {c.divider};
    }}
    #appStatusBar QLabel {{ color: {c.muted}; }}
    #remoteHostBanner {{ background: {c.user_bubble}; border-bottom: 1px solid {c.divider}; }}
    #remoteHostText {{ color: {c.text}; }}
    #reconnectButton {{ color: {c.accent}; border: none; background: transparent; }}
    QProgressBar {{ background: {c.chip}; border: none; border-radius: 3px; }}
    QProgressBar::chunk {{ background: {c.accent}; border-radius: 3px; }}
    #contextMeterText {{ color: {c.muted}; font-size: 12px; }}
    #contextMeterText[over="true"] {{ color: {c.warning}; }}
    #contextMeterBar[over="true"]::chunk {{ background: {c.warning}; }}
    """
