"""The texts of ``tasks.flow.Flow.*`` refusals in every portal language the sandbox offers.

Bitrix24 answers flow errors with ``"error": "0"`` and a text from the tasks module's language
files (``Loc::getMessage``, e.g. ``TASKS_FLOW_PROVIDER_FLOW_NOT_FOUND`` in
``tasks/lib/Flow/Provider/FlowProvider.php``), in the portal's language. The Russian texts of
"Access denied or flow not found" and "A flow with this name already exists" are the ones the
Russian docs show; no language file of the tasks module is public, so every other text here is
our own translation. Language ids are Bitrix24's (``br`` Brazilian Portuguese, ``ua``
Ukrainian, ``sc`` Simplified Chinese).
"""

from __future__ import annotations

ACCESS_DENIED = "Access denied or flow not found"
NOT_FOUND = "Flow not found"
UNKNOWN = "Unknown error"
INVALID_FIELD = "'{field}': field's value has an invalid value"
NAME_TAKEN = "A flow with this name already exists"

TRANSLATIONS: dict[str, dict[str, str]] = {
    "ru": {
        ACCESS_DENIED: "Доступ запрещен или поток не найден",
        NOT_FOUND: "Поток не найден",
        UNKNOWN: "Неизвестная ошибка",
        INVALID_FIELD: "'{field}': поле содержит недопустимое значение",
        NAME_TAKEN: "Поток с таким названием уже существует",
    },
    "de": {
        ACCESS_DENIED: "Zugriff verweigert oder Flow nicht gefunden",
        NOT_FOUND: "Flow nicht gefunden",
        UNKNOWN: "Unbekannter Fehler",
        INVALID_FIELD: "'{field}': Das Feld enthält einen ungültigen Wert",
        NAME_TAKEN: "Ein Flow mit diesem Namen existiert bereits",
    },
    "es": {
        ACCESS_DENIED: "Acceso denegado o flujo no encontrado",
        NOT_FOUND: "Flujo no encontrado",
        UNKNOWN: "Error desconocido",
        INVALID_FIELD: "'{field}': el campo contiene un valor no válido",
        NAME_TAKEN: "Ya existe un flujo con este nombre",
    },
    "pl": {
        ACCESS_DENIED: "Odmowa dostępu lub nie znaleziono przepływu",
        NOT_FOUND: "Nie znaleziono przepływu",
        UNKNOWN: "Nieznany błąd",
        INVALID_FIELD: "'{field}': pole zawiera nieprawidłową wartość",
        NAME_TAKEN: "Przepływ o tej nazwie już istnieje",
    },
    "br": {
        ACCESS_DENIED: "Acesso negado ou fluxo não encontrado",
        NOT_FOUND: "Fluxo não encontrado",
        UNKNOWN: "Erro desconhecido",
        INVALID_FIELD: "'{field}': o campo contém um valor inválido",
        NAME_TAKEN: "Já existe um fluxo com este nome",
    },
    "ua": {
        ACCESS_DENIED: "Доступ заборонено або потік не знайдено",
        NOT_FOUND: "Потік не знайдено",
        UNKNOWN: "Невідома помилка",
        INVALID_FIELD: "'{field}': поле містить неприпустиме значення",
        NAME_TAKEN: "Потік із такою назвою вже існує",
    },
    "fr": {
        ACCESS_DENIED: "Accès refusé ou flux introuvable",
        NOT_FOUND: "Flux introuvable",
        UNKNOWN: "Erreur inconnue",
        INVALID_FIELD: "'{field}' : le champ contient une valeur non valide",
        NAME_TAKEN: "Un flux portant ce nom existe déjà",
    },
    "it": {
        ACCESS_DENIED: "Accesso negato o flusso non trovato",
        NOT_FOUND: "Flusso non trovato",
        UNKNOWN: "Errore sconosciuto",
        INVALID_FIELD: "'{field}': il campo contiene un valore non valido",
        NAME_TAKEN: "Esiste già un flusso con questo nome",
    },
    "tr": {
        ACCESS_DENIED: "Erişim reddedildi veya akış bulunamadı",
        NOT_FOUND: "Akış bulunamadı",
        UNKNOWN: "Bilinmeyen hata",
        INVALID_FIELD: "'{field}': alan geçersiz bir değer içeriyor",
        NAME_TAKEN: "Bu ada sahip bir akış zaten var",
    },
    "ja": {
        ACCESS_DENIED: "アクセスが拒否されたか、フローが見つかりません",
        NOT_FOUND: "フローが見つかりません",
        UNKNOWN: "不明なエラー",
        INVALID_FIELD: "'{field}': フィールドの値が無効です",
        NAME_TAKEN: "この名前のフローは既に存在します",
    },
    "sc": {
        ACCESS_DENIED: "访问被拒绝或未找到流程",
        NOT_FOUND: "未找到流程",
        UNKNOWN: "未知错误",
        INVALID_FIELD: "'{field}'：字段值无效",
        NAME_TAKEN: "已存在同名流程",
    },
}

# The portal page's language switcher offers exactly these.
LANGUAGES = ("en", *TRANSLATIONS)


def flow_text(text: str, language: str, **fields: str) -> str:
    """``text`` (one of the English texts above) in ``language``; English for any other language."""
    return TRANSLATIONS.get(language, {}).get(text, text).format(**fields)
