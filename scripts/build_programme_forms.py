#!/usr/bin/env python3
# ruff: noqa: RUF001  (Cyrillic and Arabic labels are intended)
"""Write the programme's four XLSForms into ``forms/`` (first version only).

Running this script rewrites ``forms/family_registration.xlsx``, ``forms/home_visit.xlsx``,
``forms/school_checkin.xlsx`` and ``forms/wellbeing_screening.xlsx`` from the definitions below.

Once a programme designer has edited a workbook in Excel, the workbook is the source of truth and
this script must not be run again over it (it would overwrite the designer's changes). See
``forms/README.md``.

Usage::

    .venv/bin/python scripts/build_programme_forms.py [--out DIR]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

VERSION = "2026112101"

# -- languages ------------------------------------------------------------------------------

EN, RU, KK, AR = "en", "ru", "kk", "ar"
LANGUAGE_NAMES = {
    EN: "English (en)",
    RU: "Русский (ru)",
    KK: "Қазақша (kk)",
    AR: "العربية (ar)",
}
STAFF_LANGS = (EN, RU, KK)
CHILD_LANGS = (EN, RU, KK, AR)


@dataclass(frozen=True)
class T:
    """One text in every language; ``ar`` is only needed in forms a child answers."""

    en: str
    ru: str
    kk: str
    ar: str | None = None

    def get(self, lang: str) -> str | None:
        value: str | None = getattr(self, lang)
        return value


# Texts used in several places.
MSG_NOT_FUTURE = T(
    "The date cannot be in the future.",
    "Дата не может быть в будущем.",
    "Күн болашақта болмауы керек.",
    "لا يمكن أن يكون التاريخ في المستقبل.",
)
MSG_AFTER_TODAY = T(
    "The date must be after today.",
    "Дата должна быть позже сегодняшнего дня.",
    "Күн бүгіннен кейін болуы керек.",
    "يجب أن يكون التاريخ بعد اليوم.",
)
MSG_EXCLUSIVE = T(
    "'None' or 'Nobody' cannot be combined with other answers.",
    "«Нет» или «Никто» нельзя выбирать вместе с другими ответами.",
    "«Жоқ» немесе «Ешкім» жауабын басқа жауаптармен бірге таңдауға болмайды.",
    "لا يمكن اختيار «لا شيء» أو «لا أحد» مع إجابات أخرى.",
)
HINT_SELECT_ALL = T(
    "Select all that apply.",
    "Отметьте все подходящие ответы.",
    "Сәйкес келетіннің бәрін белгілеңіз.",
    "اختر كل ما ينطبق.",
)
HINT_CHOOSE_FROM_LIST = T(
    "Choose from your list. Type a few letters to search.",
    "Выберите из своего списка. Для поиска введите несколько букв.",
    "Тізіміңізден таңдаңыз. Іздеу үшін бірнеше әріп теріңіз.",
    "اختر من قائمتك. اكتب بعض الحروف للبحث.",
)


def exclusive(code: str = "none") -> str:
    """Constraint for a select_multiple whose ``code`` answer excludes all others."""
    return f"not(selected(., '{code}') and count-selected(.) > 1)"


# -- choice lists ---------------------------------------------------------------------------

OTHER = T("Other", "Другое", "Басқа", "أخرى")

CHOICES: dict[str, list[tuple[str, T]]] = {
    "yes_no": [
        ("yes", T("Yes", "Да", "Иә", "نعم")),
        ("no", T("No", "Нет", "Жоқ", "لا")),
    ],
    "yes_no_dk": [
        ("yes", T("Yes", "Да", "Иә")),
        ("no", T("No", "Нет", "Жоқ")),
        ("dont_know", T("Don't know", "Не знаю", "Білмеймін")),
    ],
    "yes_no_assess": [
        ("yes", T("Yes", "Да", "Иә")),
        ("no", T("No", "Нет", "Жоқ")),
        ("assess", T("To be assessed", "Требуется оценка", "Бағалау қажет")),
    ],
    "yes_partly_no": [
        ("yes", T("Yes", "Да", "Иә")),
        ("partly", T("Partly", "Частично", "Ішінара")),
        ("no", T("No", "Нет", "Жоқ")),
    ],
    # -- registration
    "hosts": [
        ("mother_parents", T("The mother's parents", "Родители матери", "Анасының ата-анасы")),
        (
            "husband_family",
            T(
                "The husband's parents or relatives",
                "Родители или родственники мужа",
                "Күйеуінің ата-анасы не туыстары",
            ),
        ),
        (
            "siblings",
            T(
                "The mother's brothers or sisters",
                "Братья или сёстры матери",
                "Анасының аға-інілері не апа-сіңлілері",
            ),
        ),
        ("other_relatives", T("Other relatives", "Другие родственники", "Басқа туыстары")),
        (
            "no_relatives",
            T(
                "Nobody: own or rented home",
                "Никто: своё или съёмное жильё",
                "Ешкім: өз үйі не жалдамалы үй",
            ),
        ),
    ],
    "passport": [
        (
            "valid",
            T(
                "Has a valid passport or ID card",
                "Есть действующий паспорт или удостоверение",
                "Жарамды төлқұжаты не жеке куәлігі бар",
            ),
        ),
        (
            "in_process",
            T("Application in process", "Документы оформляются", "Құжаттары рәсімделуде"),
        ),
        ("not_started", T("Not applied yet", "Ещё не подавала заявление", "Әлі өтініш бермеген")),
        ("lost", T("Lost or expired", "Утерян или просрочен", "Жоғалған не мерзімі өткен")),
    ],
    "doc_status": [
        ("done", T("Done", "Оформлено", "Рәсімделді")),
        ("in_process", T("In process", "В процессе", "Рәсімделуде")),
        ("not_started", T("Not started", "Не начато", "Басталмаған")),
        ("not_needed", T("Not needed", "Не требуется", "Қажет емес")),
    ],
    "child_relation": [
        ("own", T("Her own child", "Её ребёнок", "Өз баласы")),
        (
            "relative",
            T(
                "A relative's child in her care",
                "Ребёнок родственников на её попечении",
                "Оның қамқорындағы туысының баласы",
            ),
        ),
        ("other", OTHER),
    ],
    "sex": [
        ("female", T("Girl", "Девочка", "Қыз")),
        ("male", T("Boy", "Мальчик", "Ұл")),
    ],
    "birth_certificate": [
        (
            "issued",
            T(
                "Local birth certificate issued",
                "Выдано местное свидетельство",
                "Жергілікті куәлік берілді",
            ),
        ),
        ("in_process", T("Application in process", "Оформляется", "Рәсімделуде")),
        (
            "dna_test",
            T(
                "Waiting for a DNA test or court decision",
                "Ожидается ДНК-тест или решение суда",
                "ДНҚ-тест не сот шешімі күтілуде",
            ),
        ),
        ("not_started", T("Not started", "Не начато", "Басталмаған")),
    ],
    "school_status": [
        ("school", T("Attends school", "Учится в школе", "Мектепте оқиды", "يذهب إلى المدرسة")),
        (
            "kindergarten",
            T(
                "Attends kindergarten",
                "Ходит в детский сад",
                "Балабақшаға барады",
                "يذهب إلى الروضة",
            ),
        ),
        ("not_enrolled", T("Not enrolled", "Не зачислен(а)", "Оқуға тіркелмеген", "غير مسجّل")),
        (
            "too_young",
            T(
                "Too young for kindergarten",
                "Ещё мал(а) для детского сада",
                "Балабақшаға әлі кішкентай",
                "صغير جداً على الروضة",
            ),
        ),
    ],
    "not_enrolled_reason": [
        (
            "no_documents",
            T("No documents yet", "Ещё нет документов", "Құжаттары әлі жоқ", "لا توجد وثائق بعد"),
        ),
        ("no_place", T("No place available", "Нет мест", "Орын жоқ", "لا يوجد مكان شاغر")),
        ("language", T("Language barrier", "Языковой барьер", "Тіл кедергісі", "حاجز اللغة")),
        (
            "health",
            T("Health reasons", "По состоянию здоровья", "Денсаулығына байланысты", "أسباب صحية"),
        ),
        ("family", T("The family's decision", "Решение семьи", "Отбасының шешімі", "قرار العائلة")),
        ("other", OTHER),
    ],
    "languages": [
        ("kazakh", T("Kazakh", "Казахский", "Қазақ тілі", "الكازاخية")),
        ("russian", T("Russian", "Русский", "Орыс тілі", "الروسية")),
        ("arabic", T("Arabic", "Арабский", "Араб тілі", "العربية")),
        ("english", T("English", "Английский", "Ағылшын тілі", "الإنجليزية")),
        ("other", OTHER),
    ],
    # -- home visit
    "visit_outcome": [
        (
            "met",
            T(
                "Yes, I met the family",
                "Да, я встретился(-ась) с семьёй",
                "Иә, отбасымен кездестім",
            ),
        ),
        ("not_home", T("Nobody was at home", "Никого не было дома", "Үйде ешкім болмады")),
        (
            "refused",
            T(
                "The family refused the visit",
                "Семья отказалась от визита",
                "Отбасы қабылдаудан бас тартты",
            ),
        ),
        ("moved", T("The family has moved", "Семья переехала", "Отбасы көшіп кеткен")),
    ],
    "present": [
        ("mother", T("The mother", "Мать", "Анасы")),
        ("children", T("Children", "Дети", "Балалар")),
        ("relatives", T("Hosting relatives", "Принимающие родственники", "Қабылдаған туыстары")),
        ("other", T("Others", "Другие", "Басқалар")),
    ],
    "housing_type": [
        ("relatives_home", T("Relatives' home", "Дом родственников", "Туыстарының үйі")),
        ("own", T("Own home", "Собственное жильё", "Өз үйі")),
        ("rented", T("Rented", "Съёмное жильё", "Жалдамалы үй")),
        (
            "social",
            T(
                "Social or state housing",
                "Социальное или государственное жильё",
                "Әлеуметтік не мемлекеттік тұрғын үй",
            ),
        ),
        (
            "temporary",
            T(
                "Shelter or temporary housing",
                "Приют или временное жильё",
                "Баспана не уақытша тұрғын үй",
            ),
        ),
        ("other", OTHER),
    ],
    "housing_condition": [
        ("good", T("Good", "Хорошее", "Жақсы")),
        ("adequate", T("Adequate", "Удовлетворительное", "Қанағаттанарлық")),
        ("poor", T("Poor, needs repair", "Плохое, нужен ремонт", "Нашар, жөндеу керек")),
        (
            "unsafe",
            T("Unsafe or overcrowded", "Опасное или перенаселённое", "Қауіпті не тым тығыз"),
        ),
    ],
    "earners": [
        ("mother", T("The mother", "Мать", "Анасы")),
        (
            "relatives",
            T(
                "Relatives in the household",
                "Родственники, живущие с семьёй",
                "Бірге тұратын туыстары",
            ),
        ),
        ("older_children", T("Older children", "Старшие дети", "Үлкен балалары")),
        ("none", T("Nobody", "Никто", "Ешкім")),
    ],
    "income_sources": [
        ("wages", T("Wages", "Зарплата", "Жалақы")),
        (
            "self_employed",
            T("Own business or casual work", "Своё дело или подработки", "Өз ісі не уақытша жұмыс"),
        ),
        ("child_benefit", T("Child benefits", "Пособия на детей", "Балаларға арналған жәрдемақы")),
        (
            "social_assistance",
            T(
                "Targeted social assistance",
                "Адресная социальная помощь",
                "Атаулы әлеуметтік көмек",
            ),
        ),
        (
            "pension",
            T(
                "Pension or disability benefit",
                "Пенсия или пособие по инвалидности",
                "Зейнетақы не мүгедектік жәрдемақысы",
            ),
        ),
        ("relatives", T("Help from relatives", "Помощь родственников", "Туыстарының көмегі")),
        (
            "charity",
            T(
                "NGO or charity help",
                "Помощь НКО или благотворителей",
                "ҮЕҰ не қайырымдылық көмегі",
            ),
        ),
        ("none", T("No income", "Нет дохода", "Табыс жоқ")),
    ],
    "pending_docs": [
        (
            "passport",
            T(
                "Mother's passport or ID card",
                "Паспорт или удостоверение матери",
                "Анасының төлқұжаты не жеке куәлігі",
            ),
        ),
        (
            "birth_certificates",
            T(
                "Children's birth certificates",
                "Свидетельства о рождении детей",
                "Балалардың туу туралы куәліктері",
            ),
        ),
        (
            "residence",
            T("Registration at the address", "Регистрация по адресу", "Мекенжай бойынша тіркеу"),
        ),
        ("guardianship", T("Guardianship papers", "Документы об опеке", "Қамқоршылық құжаттары")),
        ("benefits", T("Benefit applications", "Заявления на пособия", "Жәрдемақыға өтініштер")),
        ("medical", T("Polyclinic registration", "Прикрепление к поликлинике", "Емханаға тіркелу")),
        ("none", T("None, all done", "Нет, всё оформлено", "Жоқ, бәрі рәсімделді")),
    ],
    "relatives_attitude": [
        (
            "accepting",
            T("Accepting and supportive", "Принимают и поддерживают", "Қабылдап, қолдайды"),
        ),
        ("mixed", T("Mixed", "По-разному", "Әртүрлі")),
        (
            "rejecting",
            T(
                "Rejecting or hostile",
                "Отвергают или враждебны",
                "Қабылдамайды не өшпенділік танытады",
            ),
        ),
        (
            "no_contact",
            T(
                "No contact with relatives",
                "Нет связи с родственниками",
                "Туыстарымен байланыс жоқ",
            ),
        ),
    ],
    "contact_frequency": [
        ("weekly", T("Every week", "Каждую неделю", "Апта сайын")),
        ("monthly", T("Every month", "Каждый месяц", "Ай сайын")),
        ("rarely", T("Rarely", "Редко", "Сирек")),
        ("never", T("Never", "Никогда", "Ешқашан")),
    ],
    "needs": [
        ("food", T("Food", "Продукты питания", "Азық-түлік")),
        ("clothing", T("Clothing", "Одежда", "Киім")),
        ("medical", T("Medical care", "Медицинская помощь", "Медициналық көмек")),
        (
            "psychological",
            T("Psychological support", "Психологическая поддержка", "Психологиялық қолдау"),
        ),
        ("legal", T("Legal help", "Юридическая помощь", "Заң көмегі")),
        ("documents", T("Help with documents", "Помощь с документами", "Құжаттарға көмек")),
        ("school_supplies", T("School supplies", "Школьные принадлежности", "Оқу құралдары")),
        (
            "employment",
            T("Help finding work", "Помощь в трудоустройстве", "Жұмысқа орналасуға көмек"),
        ),
        ("housing", T("Housing", "Жильё", "Тұрғын үй")),
        (
            "childcare",
            T(
                "Childcare or a kindergarten place",
                "Присмотр за детьми или место в детском саду",
                "Бала күтімі не балабақшадан орын",
            ),
        ),
        ("none", T("Nothing at the moment", "Сейчас ничего", "Қазір ештеңе")),
    ],
    "risks": [
        (
            "stigma",
            T("Stigma or discrimination", "Стигма или дискриминация", "Стигма не кемсітушілік"),
        ),
        ("threats", T("Threats or harassment", "Угрозы или преследование", "Қорқыту не қудалау")),
        (
            "violent_ideas",
            T(
                "Concern about contact with people or materials that promote violence",
                "Беспокойство о контактах с людьми или материалами, призывающими к насилию",
                "Зорлық-зомбылыққа үндейтін адамдармен не материалдармен байланысқа алаңдаушылық",
            ),
        ),
        ("family_conflict", T("Conflict in the family", "Конфликт в семье", "Отбасындағы жанжал")),
        (
            "domestic_violence",
            T("Violence in the home", "Насилие в семье", "Отбасылық зорлық-зомбылық"),
        ),
        (
            "health_crisis",
            T(
                "Serious health crisis",
                "Серьёзные проблемы со здоровьем",
                "Денсаулықтың ауыр дағдарысы",
            ),
        ),
        (
            "child_unsafe",
            T(
                "A child may be unsafe",
                "Ребёнок может быть в опасности",
                "Бала қауіпте болуы мүмкін",
            ),
        ),
        ("eviction", T("Risk of losing housing", "Риск потери жилья", "Баспанадан айырылу қаупі")),
        ("none", T("No risks noted", "Рисков не отмечено", "Тәуекел байқалмады")),
    ],
    "risk_level": [
        ("low", T("Low", "Низкий", "Төмен")),
        ("medium", T("Medium", "Средний", "Орташа")),
        ("high", T("High", "Высокий", "Жоғары")),
    ],
    # -- school check-in
    "info_sources": [
        ("teacher", T("Class teacher", "Классный руководитель", "Сынып жетекшісі", "معلم الصف")),
        (
            "school_staff",
            T(
                "Other school staff (psychologist, social pedagogue)",
                "Другие сотрудники школы (психолог, социальный педагог)",
                "Мектептің басқа қызметкерлері (психолог, әлеуметтік педагог)",
                "موظفون آخرون في المدرسة (أخصائي نفسي، أخصائي اجتماعي)",
            ),
        ),
        (
            "mother",
            T("The mother or guardian", "Мать или опекун", "Анасы не қамқоршысы", "الأم أو الوصي"),
        ),
        ("child", T("The child", "Сам ребёнок", "Баланың өзі", "الطفل نفسه")),
    ],
    "absence_reasons": [
        ("illness", T("Illness", "Болезнь", "Ауру", "المرض")),
        (
            "family",
            T("Family reasons", "Семейные обстоятельства", "Отбасылық жағдай", "ظروف عائلية"),
        ),
        (
            "transport",
            T(
                "Distance or no transport",
                "Далеко или нет транспорта",
                "Алыс не көлік жоқ",
                "بُعد المسافة أو عدم وجود مواصلات",
            ),
        ),
        (
            "avoids_school",
            T(
                "Avoids school (fear, bullying)",
                "Избегает школы (страх, травля)",
                "Мектептен қашқақтайды (қорқыныш, қорлау)",
                "يتجنب المدرسة (خوف، تنمّر)",
            ),
        ),
        (
            "no_supplies",
            T(
                "No clothes or school supplies",
                "Нет одежды или школьных принадлежностей",
                "Киімі не оқу құралдары жоқ",
                "لا ملابس أو أدوات مدرسية",
            ),
        ),
        ("unknown", T("Unknown", "Неизвестно", "Белгісіз", "غير معروف")),
    ],
    "instruction_language": [
        ("kazakh", T("Kazakh", "Казахский", "Қазақ тілі", "الكازاخية")),
        ("russian", T("Russian", "Русский", "Орыс тілі", "الروسية")),
        (
            "both",
            T(
                "Kazakh and Russian",
                "Казахский и русский",
                "Қазақ және орыс тілдері",
                "الكازاخية والروسية",
            ),
        ),
        ("other", OTHER),
    ],
    "language_comfort": [
        ("well", T("Understands well", "Понимает хорошо", "Жақсы түсінеді", "يفهم جيداً")),
        ("partly", T("Understands partly", "Понимает частично", "Ішінара түсінеді", "يفهم جزئياً")),
        (
            "little",
            T(
                "Understands very little",
                "Понимает очень мало",
                "Өте аз түсінеді",
                "يفهم قليلاً جداً",
            ),
        ),
    ],
    "plan_status": [
        ("yes", T("Yes", "Да", "Иә", "نعم")),
        ("in_preparation", T("Being prepared", "Готовится", "Дайындалуда", "قيد الإعداد")),
        ("no", T("No", "Нет", "Жоқ", "لا")),
    ],
    "plan_progress": [
        ("good", T("Good progress", "Хороший прогресс", "Жақсы ілгерілеу", "تقدّم جيد")),
        ("some", T("Some progress", "Небольшой прогресс", "Аздаған ілгерілеу", "بعض التقدّم")),
        ("none", T("No progress", "Нет прогресса", "Ілгерілеу жоқ", "لا تقدّم")),
        (
            "behind",
            T(
                "Falling further behind",
                "Отстаёт всё больше",
                "Барған сайын артта қалуда",
                "يتأخر أكثر فأكثر",
            ),
        ),
    ],
    "learning_gaps": [
        ("reading", T("Reading", "Чтение", "Мәтін оқу", "القراءة")),
        ("writing", T("Writing", "Письмо", "Жазу", "الكتابة")),
        ("maths", T("Maths", "Математика", "Математика", "الرياضيات")),
        ("language", T("Language of instruction", "Язык обучения", "Оқыту тілі", "لغة التدريس")),
        (
            "attention",
            T(
                "Attention or concentration",
                "Внимание, сосредоточенность",
                "Зейін қою",
                "الانتباه أو التركيز",
            ),
        ),
        (
            "behaviour",
            T(
                "Behaviour in class",
                "Поведение на уроках",
                "Сабақтағы мінез-құлқы",
                "السلوك في الصف",
            ),
        ),
        (
            "none",
            T("No major gaps", "Серьёзных пробелов нет", "Елеулі олқылық жоқ", "لا ثغرات كبيرة"),
        ),
    ],
    "bullying": [
        (
            "verbal",
            T(
                "Teasing or name-calling",
                "Насмешки или обзывания",
                "Мазақтау не балағаттау",
                "السخرية أو الشتائم",
            ),
        ),
        (
            "exclusion",
            T(
                "Left out by other children",
                "Другие дети его (её) сторонятся",
                "Басқа балалар оны өз ортасына қоспайды",
                "يستبعده الأطفال الآخرون",
            ),
        ),
        ("physical", T("Physical violence", "Физическое насилие", "Дене зорлығы", "عنف جسدي")),
        (
            "adults",
            T(
                "Unfair treatment by adults",
                "Несправедливое отношение взрослых",
                "Ересектердің әділетсіз қарым-қатынасы",
                "معاملة غير عادلة من الكبار",
            ),
        ),
        (
            "online",
            T("Bullying online", "Травля в интернете", "Интернеттегі қорлау", "تنمّر عبر الإنترنت"),
        ),
        ("none", T("None of these", "Ничего из этого", "Бұлардың ешқайсысы", "لا شيء من ذلك")),
    ],
    "assent": [
        ("yes", T("Yes", "Да", "Иә", "نعم")),
        ("no", T("No", "Нет", "Жоқ", "لا")),
        (
            "absent",
            T(
                "The child is not here today",
                "Ребёнка сегодня нет",
                "Бала бүгін жоқ",
                "الطفل غير موجود اليوم",
            ),
        ),
    ],
    "child_scale": [
        ("yes", T("Yes", "Да", "Иә", "نعم")),
        ("sometimes", T("Sometimes", "Иногда", "Кейде", "أحياناً")),
        ("no", T("No", "Нет", "Жоқ", "لا")),
        (
            "no_answer",
            T("I don't want to say", "Не хочу говорить", "Айтқым келмейді", "لا أريد أن أقول"),
        ),
    ],
    "child_yn": [
        ("yes", T("Yes", "Да", "Иә", "نعم")),
        ("no", T("No", "Нет", "Жоқ", "لا")),
        (
            "no_answer",
            T("I don't want to say", "Не хочу говорить", "Айтқым келмейді", "لا أريد أن أقول"),
        ),
    ],
    # -- wellbeing screening
    "subject_type": [
        ("adult", T("An adult", "Взрослый", "Ересек адам", "شخص بالغ")),
        (
            "child",
            T(
                "A child or teenager (11-17 years)",
                "Ребёнок или подросток (11–17 лет)",
                "Бала не жасөспірім (11–17 жас)",
                "طفل أو مراهق (11-17 سنة)",
            ),
        ),
    ],
    "freq4": [
        ("0", T("Not at all", "Ни разу", "Мүлдем болған жоқ", "ولا مرة")),
        ("1", T("Several days", "Несколько дней", "Бірнеше күн", "عدة أيام")),
        (
            "2",
            T(
                "More than half the days",
                "Более половины дней",
                "Күндердің жартысынан көбі",
                "أكثر من نصف الأيام",
            ),
        ),
        ("3", T("Nearly every day", "Почти каждый день", "Күн сайын дерлік", "كل يوم تقريباً")),
    ],
    "child_freq4": [
        ("0", T("Not at all", "Ни разу", "Бірде-бір рет", "أبداً")),
        ("1", T("Some days", "Несколько дней", "Кейбір күндері", "بعض الأيام")),
        (
            "2",
            T(
                "More than half the days",
                "Больше половины дней",
                "Күндердің жартысынан көбі",
                "أكثر من نصف الأيام",
            ),
        ),
        ("3", T("Almost every day", "Почти каждый день", "Күн сайын дерлік", "كل يوم تقريباً")),
    ],
    "who5_freq": [
        ("5", T("All of the time", "Всё время", "Үнемі", "طوال الوقت")),
        ("4", T("Most of the time", "Большую часть времени", "Көбінесе", "معظم الوقت")),
        (
            "3",
            T(
                "More than half of the time",
                "Более половины времени",
                "Уақыттың жартысынан көбі",
                "أكثر من نصف الوقت",
            ),
        ),
        (
            "2",
            T(
                "Less than half of the time",
                "Менее половины времени",
                "Уақыттың жартысынан азы",
                "أقل من نصف الوقت",
            ),
        ),
        ("1", T("Some of the time", "Иногда", "Кейде", "بعض الوقت")),
        ("0", T("At no time", "Никогда", "Ешқашан", "ولا مرة")),
    ],
    "difficulty": [
        (
            "not_difficult",
            T(
                "Not difficult at all",
                "Совсем не затруднили",
                "Мүлдем қиындатқан жоқ",
                "ليست صعبة على الإطلاق",
            ),
        ),
        (
            "somewhat",
            T("Somewhat difficult", "Немного затруднили", "Біршама қиындатты", "صعبة إلى حد ما"),
        ),
        ("very", T("Very difficult", "Очень затруднили", "Өте қиындатты", "صعبة جداً")),
        (
            "extremely",
            T("Extremely difficult", "Крайне затруднили", "Аса қатты қиындатты", "صعبة للغاية"),
        ),
    ],
    "phq_band": [
        ("minimal", T("Minimal (0-4)", "Минимальная (0–4)", "Ең төмен (0–4)", "حد أدنى (0-4)")),
        ("mild", T("Mild (5-9)", "Лёгкая (5–9)", "Жеңіл (5–9)", "خفيف (5-9)")),
        ("moderate", T("Moderate (10-14)", "Умеренная (10–14)", "Орташа (10–14)", "متوسط (10-14)")),
        (
            "mod_severe",
            T(
                "Moderately severe (15-19)",
                "Умеренно тяжёлая (15–19)",
                "Орташа ауыр (15–19)",
                "متوسط الشدة (15-19)",
            ),
        ),
        ("severe", T("Severe (20-27)", "Тяжёлая (20–27)", "Ауыр (20–27)", "شديد (20-27)")),
    ],
    "gad_band": [
        ("minimal", T("Minimal (0-4)", "Минимальная (0–4)", "Ең төмен (0–4)", "حد أدنى (0-4)")),
        ("mild", T("Mild (5-9)", "Лёгкая (5–9)", "Жеңіл (5–9)", "خفيف (5-9)")),
        ("moderate", T("Moderate (10-14)", "Умеренная (10–14)", "Орташа (10–14)", "متوسط (10-14)")),
        ("severe", T("Severe (15-21)", "Тяжёлая (15–21)", "Ауыр (15–21)", "شديد (15-21)")),
    ],
    "who5_band": [
        (
            "poor",
            T(
                "Poor wellbeing (50% or less)",
                "Низкое благополучие (50% и меньше)",
                "Әл-ауқат төмен (50% не одан аз)",
                "صحة نفسية ضعيفة (50% أو أقل)",
            ),
        ),
        (
            "adequate",
            T(
                "Adequate wellbeing (over 50%)",
                "Нормальное благополучие (выше 50%)",
                "Әл-ауқат қалыпты (50%-дан жоғары)",
                "صحة نفسية مقبولة (أكثر من 50%)",
            ),
        ),
    ],
    "referral_urgency": [
        ("today", T("Today", "Сегодня", "Бүгін", "اليوم")),
        ("week", T("Within 7 days", "В течение 7 дней", "7 күн ішінде", "خلال 7 أيام")),
        ("month", T("Within a month", "В течение месяца", "Бір ай ішінде", "خلال شهر")),
    ],
}

# -- survey rows ----------------------------------------------------------------------------


@dataclass
class Row:
    type: str
    name: str = ""
    label: T | None = None
    hint: T | None = None
    required: str = ""
    relevant: str = ""
    constraint: str = ""
    constraint_message: T | None = None
    calculation: str = ""
    default: str = ""
    read_only: str = ""
    repeat_count: str = ""
    choice_filter: str = ""
    appearance: str = ""
    parameters: str = ""
    save_to: str = ""


def Q(type_: str, name: str, label: T | None = None, hint: T | None = None, **kw: str | T) -> Row:
    return Row(type_, name, label, hint, **kw)  # type: ignore[arg-type]


def calc(name: str, calculation: str, save_to: str = "") -> Row:
    return Row("calculate", name, calculation=calculation, save_to=save_to)


def note(name: str, label: T, relevant: str = "") -> Row:
    return Row("note", name, label, relevant=relevant)


def group(name: str, label: T, relevant: str = "", appearance: str = "") -> Row:
    return Row("begin group", name, label, relevant=relevant, appearance=appearance)


def repeat(name: str, label: T, relevant: str = "", repeat_count: str = "") -> Row:
    return Row("begin repeat", name, label, relevant=relevant, repeat_count=repeat_count)


def end_group() -> Row:
    return Row("end group")


def end_repeat() -> Row:
    return Row("end repeat")


def metadata() -> list[Row]:
    return [
        Row("start", "start"),
        Row("end", "end"),
        Row("deviceid", "deviceid"),
        Row("username", "username"),
    ]


def total(names: list[str]) -> str:
    """Sum of scored items; unanswered items count as 0 so partial totals stay numeric."""
    return " + ".join(f"coalesce(${{{n}}}, 0)" for n in names)


def phq_band(total_name: str) -> str:
    t = f"${{{total_name}}}"
    return (
        f"if({t} >= 20, 'severe', if({t} >= 15, 'mod_severe', if({t} >= 10, 'moderate', "
        f"if({t} >= 5, 'mild', 'minimal'))))"
    )


def gad_band(total_name: str) -> str:
    t = f"${{{total_name}}}"
    return f"if({t} >= 15, 'severe', if({t} >= 10, 'moderate', if({t} >= 5, 'mild', 'minimal')))"


@dataclass
class Entity:
    list_name: str
    label: str = ""
    entity_id: str = ""
    create_if: str = ""
    update_if: str = ""
    repeat: str = ""


@dataclass
class Form:
    form_id: str
    title: str
    langs: tuple[str, ...]
    survey: list[Row]
    instance_name: str = ""
    entities: list[Entity] = field(default_factory=list)


# ===========================================================================================
# 1. Family registration
# ===========================================================================================


def family_registration() -> Form:
    consent_yes = "${consent_given} = 'yes'"
    survey: list[Row] = [
        *metadata(),
        note(
            "intro",
            T(
                "Family registration. Use this form once per family, after they have settled at their "
                "new address. Fill it in together with the mother.",
                "Регистрация семьи. Заполняется один раз для каждой семьи после переезда на новое место "
                "жительства, вместе с матерью.",
                "Отбасын тіркеу. Бұл форма әр отбасына бір рет, жаңа мекенжайға қоныстанғаннан кейін, "
                "анасымен бірге толтырылады.",
            ),
        ),
        group("consent", T("Consent", "Согласие", "Келісім"), appearance="field-list"),
        Q(
            "acknowledge",
            "consent_explained",
            T(
                "I have explained who we are, why we collect this information, who can see it, and that "
                "the family may refuse or stop at any time.",
                "Я объяснил(а), кто мы, зачем собираем эти сведения, кто их увидит, и что семья может "
                "отказаться или прекратить в любой момент.",
                "Мен кім екенімізді, бұл мәліметтерді не үшін жинайтынымызды, оларды кім көретінін және "
                "отбасы кез келген уақытта бас тартуға не тоқтатуға құқылы екенін түсіндірдім.",
            ),
            required="yes",
        ),
        Q(
            "select_one yes_no",
            "consent_given",
            T(
                "Does the mother (or guardian) agree to register the family with the support programme?",
                "Согласна ли мать (или опекун) зарегистрировать семью в программе поддержки?",
                "Анасы (немесе қамқоршы) отбасын қолдау бағдарламасына тіркеуге келісе ме?",
            ),
            required="yes",
        ),
        Q(
            "image",
            "consent_signature",
            T(
                "Signature of the mother (or guardian)",
                "Подпись матери (или опекуна)",
                "Анасының (немесе қамқоршының) қолы",
            ),
            T(
                "Ask her to sign on the screen.",
                "Попросите её расписаться на экране.",
                "Экранға қол қоюын сұраңыз.",
            ),
            required="yes",
            relevant=consent_yes,
            appearance="signature",
            parameters="max-pixels=1024",
        ),
        note(
            "no_consent_note",
            T(
                "Without consent the registration stops here. Send the form so that the centre knows the "
                "family declined.",
                "Без согласия регистрация на этом заканчивается. Отправьте форму, чтобы центр знал об "
                "отказе семьи.",
                "Келісім болмаса, тіркеу осымен аяқталады. Отбасының бас тартқанын орталық білуі үшін "
                "форманы жіберіңіз.",
            ),
            relevant="${consent_given} = 'no'",
        ),
        end_group(),
        group("household", T("Household", "Домохозяйство", "Үй шаруашылығы"), relevant=consent_yes),
        Q(
            "text",
            "settlement",
            T(
                "Settlement (city, town or village)",
                "Населённый пункт (город, посёлок или село)",
                "Елді мекен (қала, кент немесе ауыл)",
            ),
            required="yes",
            save_to="households#settlement",
        ),
        Q(
            "text",
            "district",
            T("District", "Район", "Аудан"),
            required="yes",
            save_to="households#district",
        ),
        Q(
            "text",
            "address_notes",
            T("Address notes", "Адрес и ориентиры", "Мекенжай және бағдарлар"),
            T(
                "Street, house, flat and landmarks: how to find the home.",
                "Улица, дом, квартира и ориентиры: как найти дом.",
                "Көше, үй, пәтер және бағдарлар: үйді қалай табуға болады.",
            ),
            appearance="multiline",
        ),
        Q(
            "select_one hosts",
            "host_relation",
            T(
                "Who is hosting the family?",
                "Кто принял семью к себе?",
                "Отбасын кім өз үйіне қабылдады?",
            ),
            required="yes",
            save_to="households#hosting_relatives",
        ),
        Q(
            "text",
            "host_contact",
            T(
                "Name and phone of the main hosting relative",
                "Имя и телефон главного принимающего родственника",
                "Қабылдаған негізгі туысының аты мен телефоны",
            ),
            relevant="${host_relation} != 'no_relatives'",
        ),
        Q(
            "integer",
            "household_size",
            T(
                "How many people live in the household?",
                "Сколько человек живёт в домохозяйстве?",
                "Үй шаруашылығында неше адам тұрады?",
            ),
            T(
                "Everyone who lives and eats together, including the returnees.",
                "Все, кто живёт и питается вместе, включая вернувшихся.",
                "Бірге тұратын және тамақтанатын барлық адам, оралғандарды қоса.",
            ),
            required="yes",
            constraint=". >= 1 and . <= 30",
            constraint_message=T(
                "Enter a number from 1 to 30.",
                "Введите число от 1 до 30.",
                "1-ден 30-ға дейінгі сан енгізіңіз.",
            ),
            save_to="households#household_size",
        ),
        Q(
            "date",
            "arrival_date",
            T(
                "Date the family arrived at this address",
                "Дата прибытия семьи по этому адресу",
                "Отбасының осы мекенжайға келген күні",
            ),
            required="yes",
            constraint=". <= today()",
            constraint_message=MSG_NOT_FUTURE,
            save_to="households#arrival_date",
        ),
        Q(
            "date",
            "return_date",
            T("Date of return to the country", "Дата возвращения в страну", "Елге оралған күні"),
            T(
                "Leave empty if unknown.",
                "Оставьте пустым, если неизвестно.",
                "Белгісіз болса, бос қалдырыңыз.",
            ),
            constraint=". <= ${arrival_date}",
            constraint_message=T(
                "The return cannot be later than the arrival at this address.",
                "Дата возвращения не может быть позже прибытия по этому адресу.",
                "Елге оралған күн осы мекенжайға келген күннен кеш болмауы керек.",
            ),
        ),
        end_group(),
        group("mother", T("Mother", "Мать", "Анасы"), relevant=consent_yes),
        Q(
            "text",
            "mother_surname",
            T("Surname", "Фамилия", "Тегі"),
            T(
                "Her current legal name, as in her new documents. Do not record earlier names.",
                "Нынешнее официальное имя, как в новых документах. Прежние имена не записывайте.",
                "Жаңа құжаттарындағы қазіргі ресми аты-жөні. Бұрынғы есімдерін жазбаңыз.",
            ),
            required="yes",
        ),
        Q("text", "mother_given_name", T("First name", "Имя", "Аты"), required="yes"),
        Q(
            "text",
            "mother_patronymic",
            T("Patronymic (if any)", "Отчество (при наличии)", "Әкесінің аты (бар болса)"),
        ),
        calc(
            "mother_full_name",
            "normalize-space(concat(${mother_surname}, ' ', ${mother_given_name}, ' ', "
            "${mother_patronymic}))",
            save_to="adults#full_name",
        ),
        Q(
            "select_one yes_no",
            "mother_dob_known",
            T(
                "Is her exact date of birth known?",
                "Известна ли точная дата её рождения?",
                "Оның нақты туған күні белгілі ме?",
            ),
            required="yes",
        ),
        Q(
            "date",
            "mother_birth_date",
            T("Date of birth", "Дата рождения", "Туған күні"),
            required="yes",
            relevant="${mother_dob_known} = 'yes'",
            constraint=". >= date('1940-01-01') and . < today()",
            constraint_message=T(
                "Check the date: it must be after 1940 and before today.",
                "Проверьте дату: она должна быть позже 1940 года и раньше сегодняшнего дня.",
                "Күнді тексеріңіз: 1940 жылдан кейін және бүгінгі күннен бұрын болуы керек.",
            ),
        ),
        Q(
            "integer",
            "mother_birth_year_entered",
            T("Year of birth (approximate)", "Год рождения (примерно)", "Туған жылы (шамамен)"),
            required="yes",
            relevant="${mother_dob_known} = 'no'",
            constraint=". >= 1940 and . <= int(format-date(today(), '%Y'))",
            constraint_message=T(
                "Enter a year between 1940 and this year.",
                "Введите год от 1940 до текущего.",
                "1940 жыл мен биылғы жыл аралығындағы жылды енгізіңіз.",
            ),
        ),
        calc(
            "mother_birth_year",
            "if(${mother_dob_known} = 'yes', format-date(${mother_birth_date}, '%Y'), "
            "${mother_birth_year_entered})",
            save_to="adults#birth_year",
        ),
        Q(
            "select_one passport",
            "passport_status",
            T(
                "Passport or ID card",
                "Паспорт или удостоверение личности",
                "Төлқұжат не жеке куәлік",
            ),
            required="yes",
            save_to="adults#passport_status",
        ),
        Q(
            "text",
            "mother_phone",
            T("Phone number", "Номер телефона", "Телефон нөмірі"),
            T(
                "With the country code, e.g. +77011234567.",
                "С кодом страны, например +77011234567.",
                "Ел кодымен, мысалы +77011234567.",
            ),
            constraint="regex(., '^\\+?[0-9]{10,13}$')",
            constraint_message=T(
                "Enter 10 to 13 digits; you may start with +.",
                "Введите от 10 до 13 цифр; можно начать с +.",
                "10-нан 13-ке дейін цифр енгізіңіз; + белгісінен бастауға болады.",
            ),
            appearance="numbers",
            save_to="adults#phone",
        ),
        # The household case is created by this same submission; its id is set when the form
        # opens, so the mother's and children's cases can point to it.
        calc(
            "mother_household_id",
            "if(${mother_surname} != '', /data/meta/entity/@id, '')",
            save_to="adults#household_id",
        ),
        end_group(),
        group(
            "documents",
            T("Household documents", "Документы семьи", "Отбасы құжаттары"),
            relevant=consent_yes,
            appearance="field-list",
        ),
        Q(
            "select_one doc_status",
            "residence_registration",
            T(
                "Registration at this address",
                "Регистрация по этому адресу",
                "Осы мекенжай бойынша тіркеу",
            ),
            required="yes",
        ),
        Q(
            "select_one doc_status",
            "medical_registration",
            T(
                "Registration with a local polyclinic",
                "Прикрепление к поликлинике",
                "Емханаға тіркелу",
            ),
            required="yes",
        ),
        Q(
            "select_one doc_status",
            "benefits_application",
            T(
                "Application for social benefits",
                "Заявление на социальные выплаты",
                "Әлеуметтік төлемдерге өтініш",
            ),
            required="yes",
        ),
        Q(
            "text",
            "documents_notes",
            T("Problems with documents", "Проблемы с документами", "Құжаттарға қатысты мәселелер"),
            T(
                "What is blocking, which office, what help is needed.",
                "Что мешает, какое ведомство, какая нужна помощь.",
                "Не кедергі, қай мекеме, қандай көмек керек.",
            ),
            appearance="multiline",
        ),
        end_group(),
        note(
            "children_intro",
            T(
                "Next, register each returnee child of this family, one at a time.",
                "Далее зарегистрируйте каждого вернувшегося ребёнка этой семьи, по одному.",
                "Енді осы отбасының оралған әр баласын бір-бірлеп тіркеңіз.",
            ),
            relevant=consent_yes,
        ),
        repeat("children", T("Child", "Ребёнок", "Бала"), relevant=consent_yes),
        Q(
            "text",
            "child_name",
            T("Child's full name", "ФИО ребёнка", "Баланың толық аты-жөні"),
            T(
                "The current legal name, as in the new birth certificate. Do not record earlier names.",
                "Нынешнее официальное имя, как в новом свидетельстве о рождении. Прежние имена не "
                "записывайте.",
                "Жаңа туу туралы куәліктегі қазіргі ресми аты-жөні. Бұрынғы есімдерін жазбаңыз.",
            ),
            required="yes",
            save_to="children#full_name",
        ),
        Q(
            "select_one child_relation",
            "child_relation",
            T("Relationship to the mother", "Кем приходится матери", "Анасына кім болып келеді"),
            required="yes",
        ),
        Q(
            "select_one sex",
            "child_sex",
            T("Sex", "Пол", "Жынысы"),
            required="yes",
            appearance="horizontal",
            save_to="children#sex",
        ),
        Q(
            "date",
            "child_birth_date",
            T("Date of birth", "Дата рождения", "Туған күні"),
            T(
                "If only the year is known, enter 1 January of that year.",
                "Если известен только год, укажите 1 января этого года.",
                "Тек жылы белгілі болса, сол жылдың 1 қаңтарын көрсетіңіз.",
            ),
            required="yes",
            constraint=". <= today()",
            constraint_message=MSG_NOT_FUTURE,
            save_to="children#birth_date",
        ),
        Q(
            "select_one birth_certificate",
            "birth_certificate_status",
            T("Birth certificate", "Свидетельство о рождении", "Туу туралы куәлік"),
            required="yes",
            save_to="children#birth_certificate_status",
        ),
        Q(
            "select_one school_status",
            "school_status",
            T("School or kindergarten", "Школа или детский сад", "Мектеп немесе балабақша"),
            required="yes",
            save_to="children#school_status",
        ),
        Q(
            "select_one not_enrolled_reason",
            "not_enrolled_reason",
            T(
                "Why is the child not enrolled?",
                "Почему ребёнок не зачислен?",
                "Бала неге оқуға тіркелмеген?",
            ),
            required="yes",
            relevant="${school_status} = 'not_enrolled'",
        ),
        Q(
            "select_multiple languages",
            "child_languages",
            T(
                "Languages the child speaks",
                "На каких языках говорит ребёнок",
                "Бала қай тілдерде сөйлейді",
            ),
            HINT_SELECT_ALL,
            required="yes",
            save_to="children#languages",
        ),
        Q(
            "select_one yes_no_assess",
            "needs_learning_plan",
            T(
                "Does the child need an individual learning plan?",
                "Нужен ли ребёнку индивидуальный учебный план?",
                "Балаға жеке оқу жоспары керек пе?",
            ),
            required="yes",
            relevant="${school_status} != 'too_young'",
            save_to="children#needs_learning_plan",
        ),
        # Links to the household and mother cases created by this same submission. The
        # reference to child_name makes JavaRosa recompute them once the child is entered (the
        # first repeat instance exists before the case ids are set when the form opens).
        calc(
            "child_household_id",
            "if(${child_name} != '', /data/meta/entity/@id, '')",
            save_to="children#household_id",
        ),
        calc(
            "child_mother_id",
            "if(${child_name} != '', /data/mother/meta/entity/@id, '')",
            save_to="children#mother_id",
        ),
        end_repeat(),
        calc("children_count", "count(${children})", save_to="households#children_count"),
        note(
            "household_size_check",
            T(
                "Check the household size: it is smaller than the mother and the children registered.",
                "Проверьте размер домохозяйства: он меньше, чем мать и зарегистрированные дети.",
                "Үй шаруашылығының санын тексеріңіз: ол анасы мен тіркелген балалардан аз.",
            ),
            relevant=consent_yes + " and ${household_size} < ${children_count} + 1",
        ),
        group(
            "follow_up",
            T("Follow-up", "Дальнейшее сопровождение", "Әрі қарай сүйемелдеу"),
            relevant=consent_yes,
        ),
        Q(
            "date",
            "next_visit_date",
            T(
                "Date of the first home visit",
                "Дата первого визита на дом",
                "Үйге алғашқы барудың күні",
            ),
            required="yes",
            constraint=". >= today()",
            constraint_message=T(
                "The date cannot be in the past.",
                "Дата не может быть в прошлом.",
                "Күн өткен уақытта болмауы керек.",
            ),
            save_to="households#next_visit",
        ),
        Q(
            "geopoint",
            "location",
            T("Location of the home", "Местоположение дома", "Үйдің орналасқан жері"),
            T(
                "Optional. Record it only if the family agrees.",
                "Необязательно. Записывайте только с согласия семьи.",
                "Міндетті емес. Тек отбасы келіссе ғана жазыңыз.",
            ),
        ),
        Q(
            "text",
            "worker_notes",
            T(
                "Social worker's notes",
                "Заметки социального работника",
                "Әлеуметтік қызметкердің ескертпелері",
            ),
            appearance="multiline",
        ),
        end_group(),
    ]
    entities = [
        Entity(
            "households",
            label="concat(${mother_surname}, ' - ', ${settlement})",
            create_if=consent_yes,
        ),
        Entity(
            "adults",
            label="concat(${mother_full_name}, ' - ', ${settlement})",
            create_if=consent_yes,
        ),
        Entity(
            "children",
            label="concat(${child_name}, ' (', format-date(${child_birth_date}, '%Y'), ')')",
            create_if=consent_yes,
            repeat="children",
        ),
    ]
    return Form(
        "family_registration",
        "Family registration",
        STAFF_LANGS,
        survey,
        instance_name="if(${consent_given} = 'no', 'Registration declined', "
        "concat('Registration: ', ${mother_surname}, ' - ', ${settlement}))",
        entities=entities,
    )


# ===========================================================================================
# 2. Home visit
# ===========================================================================================


def home_visit() -> Form:
    met = "${visit_outcome} = 'met'"
    hh = "instance('households')/root/item[name=${household}]"
    survey: list[Row] = [
        *metadata(),
        Q(
            "select_one_from_file households.csv",
            "household",
            T("Family", "Семья", "Отбасы"),
            HINT_CHOOSE_FROM_LIST,
            required="yes",
            appearance="autocomplete",
        ),
        calc("household_label", f"{hh}/label"),
        calc("prev_last_visit", f"{hh}/last_visit"),
        calc("prev_next_visit", f"{hh}/next_visit"),
        note(
            "previous_visit",
            T(
                "Last visit: ${prev_last_visit}. This visit was planned for ${prev_next_visit}.",
                "Последний визит: ${prev_last_visit}. Этот визит был запланирован на ${prev_next_visit}.",
                "Соңғы бару: ${prev_last_visit}. Бұл бару ${prev_next_visit} күніне жоспарланған.",
            ),
            relevant="${prev_last_visit} != ''",
        ),
        Q(
            "date",
            "visit_date",
            T("Date of the visit", "Дата визита", "Бару күні"),
            required="yes",
            default="today()",
            constraint=". <= today()",
            constraint_message=MSG_NOT_FUTURE,
            save_to="last_visit",
        ),
        Q(
            "select_one visit_outcome",
            "visit_outcome",
            T("Did the visit take place?", "Состоялся ли визит?", "Бару жүзеге асты ма?"),
            required="yes",
            save_to="last_visit_outcome",
        ),
        Q(
            "text",
            "new_address",
            T(
                "New address or settlement, if known",
                "Новый адрес или населённый пункт, если известно",
                "Белгілі болса, жаңа мекенжайы не елді мекені",
            ),
            relevant="${visit_outcome} = 'moved'",
        ),
        Q(
            "select_multiple present",
            "present",
            T("Who was present?", "Кто присутствовал?", "Кім қатысты?"),
            HINT_SELECT_ALL,
            required="yes",
            relevant=met,
        ),
        group("housing", T("Housing", "Жильё", "Тұрғын үй"), relevant=met, appearance="field-list"),
        Q(
            "select_one housing_type",
            "housing_type",
            T("Type of housing", "Тип жилья", "Тұрғын үй түрі"),
            required="yes",
            save_to="housing_type",
        ),
        Q(
            "select_one housing_condition",
            "housing_condition",
            T("Condition of the housing", "Состояние жилья", "Тұрғын үйдің жағдайы"),
            required="yes",
            save_to="housing_condition",
        ),
        Q(
            "select_one yes_no_dk",
            "secure_tenancy",
            T(
                "Can the family stay in this home for the next 6 months?",
                "Может ли семья жить здесь ближайшие 6 месяцев?",
                "Отбасы алдағы 6 ай осы үйде тұра ала ма?",
            ),
            required="yes",
            save_to="secure_tenancy",
        ),
        end_group(),
        group(
            "income",
            T("Income and work", "Доход и работа", "Табыс және жұмыс"),
            relevant=met,
            appearance="field-list",
        ),
        Q(
            "select_multiple earners",
            "who_works",
            T(
                "Who in the household has paid work?",
                "Кто в семье работает за плату?",
                "Отбасында кім ақылы жұмыс істейді?",
            ),
            HINT_SELECT_ALL,
            required="yes",
            constraint=exclusive(),
            constraint_message=MSG_EXCLUSIVE,
        ),
        Q(
            "select_one yes_no",
            "mother_wants_work",
            T(
                "Does the mother want help finding work?",
                "Хочет ли мать помощи в поиске работы?",
                "Анасы жұмыс табуға көмек алғысы келе ме?",
            ),
            relevant="not(selected(${who_works}, 'mother'))",
        ),
        Q(
            "select_multiple income_sources",
            "income_sources",
            T("Sources of income", "Источники дохода", "Табыс көздері"),
            HINT_SELECT_ALL,
            required="yes",
            constraint=exclusive(),
            constraint_message=MSG_EXCLUSIVE,
        ),
        Q(
            "select_one yes_partly_no",
            "income_sufficient",
            T(
                "Is the income enough for basic needs (food, rent, utilities)?",
                "Хватает ли дохода на основные нужды (еда, жильё, коммунальные услуги)?",
                "Табыс негізгі қажеттіліктерге (тамақ, тұрғын үй, коммуналдық қызметтер) жете ме?",
            ),
            required="yes",
            save_to="income_sufficient",
        ),
        end_group(),
        group(
            "documents",
            T("Documents", "Документы", "Құжаттар"),
            relevant=met,
            appearance="field-list",
        ),
        Q(
            "select_multiple pending_docs",
            "pending_documents",
            T(
                "Which documents are still pending?",
                "Какие документы ещё не оформлены?",
                "Қандай құжаттар әлі рәсімделмеген?",
            ),
            HINT_SELECT_ALL,
            required="yes",
            constraint=exclusive(),
            constraint_message=MSG_EXCLUSIVE,
        ),
        Q(
            "text",
            "document_problems",
            T(
                "What problems are there with documents?",
                "Какие есть проблемы с документами?",
                "Құжаттарға қатысты қандай мәселелер бар?",
            ),
            relevant="count-selected(${pending_documents}) > 0 and "
            "not(selected(${pending_documents}, 'none'))",
            appearance="multiline",
        ),
        end_group(),
        group(
            "family_ties",
            T("Family ties", "Семейные связи", "Отбасылық байланыстар"),
            relevant=met,
            appearance="field-list",
        ),
        Q(
            "select_one relatives_attitude",
            "relatives_attitude",
            T(
                "How do the relatives treat the returnees?",
                "Как родственники относятся к вернувшимся?",
                "Туыстары оралғандарға қалай қарайды?",
            ),
            required="yes",
            save_to="relatives_attitude",
        ),
        Q(
            "select_one contact_frequency",
            "relatives_contact",
            T(
                "How often is the family in touch with relatives who live elsewhere?",
                "Как часто семья общается с родственниками, живущими отдельно?",
                "Отбасы бөлек тұратын туыстарымен қаншалықты жиі байланысады?",
            ),
            required="yes",
        ),
        Q(
            "text",
            "family_notes",
            T(
                "Notes on family relations",
                "Заметки о семейных отношениях",
                "Отбасылық қарым-қатынас туралы ескертпелер",
            ),
            appearance="multiline",
        ),
        end_group(),
        group("needs_section", T("Needs", "Потребности", "Қажеттіліктер"), relevant=met),
        Q(
            "select_multiple needs",
            "needs",
            T(
                "What does the family need now?",
                "Что сейчас нужно семье?",
                "Қазір отбасына не қажет?",
            ),
            HINT_SELECT_ALL,
            required="yes",
            constraint=exclusive(),
            constraint_message=MSG_EXCLUSIVE,
        ),
        end_group(),
        group("risks_section", T("Risks", "Риски", "Тәуекелдер"), relevant=met),
        Q(
            "select_multiple risks",
            "risks",
            T(
                "Risks observed or reported",
                "Замеченные или названные риски",
                "Байқалған не айтылған тәуекелдер",
            ),
            HINT_SELECT_ALL,
            required="yes",
            constraint=exclusive(),
            constraint_message=MSG_EXCLUSIVE,
        ),
        Q(
            "select_one risk_level",
            "risk_level",
            T("Overall risk level", "Общий уровень риска", "Жалпы тәуекел деңгейі"),
            T(
                "High: the centre must act within days.",
                "Высокий: центр должен принять меры в течение нескольких дней.",
                "Жоғары: орталық бірнеше күн ішінде шара қабылдауы керек.",
            ),
            required="yes",
            appearance="horizontal",
            save_to="risk_level",
        ),
        Q(
            "text",
            "risk_details",
            T(
                "Describe the risks and what was agreed",
                "Опишите риски и о чём договорились",
                "Тәуекелдерді және не келісілгенін сипаттаңыз",
            ),
            required="${risk_level} = 'high'",
            relevant="${risk_level} != 'low' or (count-selected(${risks}) > 0 and "
            "not(selected(${risks}, 'none')))",
            appearance="multiline",
        ),
        end_group(),
        calc(
            "urgent",
            "if(${visit_outcome} = 'met' and (${risk_level} = 'high' or "
            "selected(${risks}, 'threats') or selected(${risks}, 'domestic_violence') or "
            "selected(${risks}, 'child_unsafe') or selected(${risks}, 'health_crisis')), 'yes', 'no')",
        ),
        note(
            "urgent_note",
            T(
                "URGENT: this visit will be flagged for the coordinator. If anyone is in immediate danger, "
                "call your supervisor or the emergency services now.",
                "СРОЧНО: визит будет отмечен для координатора. Если кому-то грозит непосредственная "
                "опасность, сразу звоните руководителю или в экстренные службы.",
                "ШҰҒЫЛ: бұл бару үйлестірушіге белгіленеді. Біреуге тікелей қауіп төнсе, дереу "
                "жетекшіңізге не жедел қызметтерге хабарласыңыз.",
            ),
            relevant="${urgent} = 'yes'",
        ),
        group(
            "closing",
            T("Notes and next visit", "Заметки и следующий визит", "Ескертпелер және келесі бару"),
        ),
        Q(
            "text",
            "worker_notes",
            T(
                "Social worker's notes",
                "Заметки социального работника",
                "Әлеуметтік қызметкердің ескертпелері",
            ),
            appearance="multiline",
        ),
        Q(
            "image",
            "photo",
            T("Photo (optional)", "Фото (необязательно)", "Фото (міндетті емес)"),
            T(
                "For example, the condition of the home. Do not photograph people without their consent.",
                "Например, состояние жилья. Не фотографируйте людей без их согласия.",
                "Мысалы, үйдің жағдайы. Адамдарды келісімінсіз суретке түсірмеңіз.",
            ),
            relevant=met,
            parameters="max-pixels=1024",
        ),
        Q(
            "date",
            "next_visit_date",
            T("Date of the next visit", "Дата следующего визита", "Келесі бару күні"),
            required="yes",
            constraint=". > today()",
            constraint_message=MSG_AFTER_TODAY,
            save_to="next_visit",
        ),
        note(
            "next_visit_warning",
            T(
                "The risk level is high: plan the next visit within 14 days if you can.",
                "Уровень риска высокий: по возможности запланируйте следующий визит в течение 14 дней.",
                "Тәуекел деңгейі жоғары: мүмкіндігінше келесі баруды 14 күн ішінде жоспарлаңыз.",
            ),
            relevant="${risk_level} = 'high' and "
            "decimal-date-time(${next_visit_date}) > decimal-date-time(today()) + 14",
        ),
        end_group(),
    ]
    entities = [Entity("households", entity_id="${household}")]
    return Form(
        "home_visit",
        "Home visit",
        STAFF_LANGS,
        survey,
        instance_name="concat('Home visit ', ${visit_date}, ' - ', ${household_label})",
        entities=entities,
    )


# ===========================================================================================
# 3. School check-in
# ===========================================================================================


def school_checkin() -> Form:
    enrolled = "${school_status} = 'school' or ${school_status} = 'kindergarten'"
    ch = "instance('children')/root/item[name=${child}]"
    survey: list[Row] = [
        *metadata(),
        Q(
            "select_one_from_file children.csv",
            "child",
            T("Child", "Ребёнок", "Бала", "الطفل"),
            HINT_CHOOSE_FROM_LIST,
            required="yes",
            appearance="autocomplete",
        ),
        calc("child_label", f"{ch}/label"),
        Q(
            "date",
            "checkin_date",
            T(
                "Date of this check-in",
                "Дата этой проверки",
                "Осы тексеру күні",
                "تاريخ هذه المتابعة",
            ),
            required="yes",
            default="today()",
            constraint=". <= today()",
            constraint_message=MSG_NOT_FUTURE,
            save_to="last_school_checkin",
        ),
        Q(
            "select_multiple info_sources",
            "info_sources",
            T(
                "Who gave information?",
                "Кто предоставил сведения?",
                "Мәліметті кім берді?",
                "من قدّم المعلومات؟",
            ),
            HINT_SELECT_ALL,
            required="yes",
        ),
        group(
            "enrolment",
            T("Enrolment", "Зачисление", "Оқуға қабылдану", "التسجيل"),
            appearance="field-list",
        ),
        Q(
            "select_one school_status",
            "school_status",
            T(
                "Where does the child study now?",
                "Где сейчас учится ребёнок?",
                "Бала қазір қайда оқиды?",
                "أين يدرس الطفل الآن؟",
            ),
            required="yes",
            save_to="school_status",
        ),
        Q(
            "select_one not_enrolled_reason",
            "not_enrolled_reason",
            T(
                "Why is the child not enrolled?",
                "Почему ребёнок не зачислен?",
                "Бала неге оқуға тіркелмеген?",
                "لماذا الطفل غير مسجّل؟",
            ),
            required="yes",
            relevant="${school_status} = 'not_enrolled'",
        ),
        Q(
            "text",
            "school_name",
            T(
                "Name of the school or kindergarten",
                "Название школы или детского сада",
                "Мектептің не балабақшаның атауы",
                "اسم المدرسة أو الروضة",
            ),
            required="yes",
            relevant=enrolled,
        ),
        Q(
            "integer",
            "grade",
            T("Grade", "Класс", "Сынып", "الصف"),
            required="yes",
            relevant="${school_status} = 'school'",
            constraint=". >= 0 and . <= 11",
            constraint_message=T(
                "Enter a grade from 0 (pre-school class) to 11.",
                "Введите класс от 0 (предшкольный) до 11.",
                "0-ден (мектепалды сынып) 11-ге дейінгі сыныпты енгізіңіз.",
                "أدخل صفاً من 0 (الصف التمهيدي) إلى 11.",
            ),
        ),
        end_group(),
        group(
            "attendance",
            T("Attendance", "Посещаемость", "Сабаққа қатысу", "الحضور"),
            relevant=enrolled,
            appearance="field-list",
        ),
        Q(
            "integer",
            "days_absent",
            T(
                "Days absent this month",
                "Пропущено дней в этом месяце",
                "Осы айда қатыспаған күндер саны",
                "أيام الغياب هذا الشهر",
            ),
            T(
                "School or kindergarten days missed since the 1st of this month.",
                "Пропущенные учебные дни с 1-го числа этого месяца.",
                "Осы айдың 1-інен бастап қатыспаған оқу күндері.",
                "أيام الدراسة التي فاتته منذ أول هذا الشهر.",
            ),
            required="yes",
            constraint=". >= 0 and . <= 23",
            constraint_message=T(
                "Enter a number from 0 to 23.",
                "Введите число от 0 до 23.",
                "0-ден 23-ке дейінгі сан енгізіңіз.",
                "أدخل رقماً من 0 إلى 23.",
            ),
            save_to="attendance_days_absent",
        ),
        Q(
            "select_multiple absence_reasons",
            "absence_reasons",
            T(
                "Main reasons for absence",
                "Основные причины пропусков",
                "Қатыспаудың негізгі себептері",
                "أهم أسباب الغياب",
            ),
            HINT_SELECT_ALL,
            required="yes",
            relevant="${days_absent} > 0",
        ),
        end_group(),
        group(
            "language",
            T("Language", "Язык", "Тіл", "اللغة"),
            relevant=enrolled,
            appearance="field-list",
        ),
        Q(
            "select_one instruction_language",
            "instruction_language",
            T("Language of instruction", "Язык обучения", "Оқыту тілі", "لغة التدريس"),
            required="yes",
        ),
        Q(
            "select_one yes_no",
            "language_support",
            T(
                "Does the child get extra language lessons or support?",
                "Получает ли ребёнок дополнительные занятия или помощь по языку?",
                "Бала тілден қосымша сабақ не көмек ала ма?",
                "هل يتلقى الطفل دروساً أو دعماً إضافياً في اللغة؟",
            ),
            required="yes",
            save_to="language_support",
        ),
        Q(
            "select_one language_comfort",
            "language_comfort",
            T(
                "How well does the child understand lessons?",
                "Насколько хорошо ребёнок понимает уроки?",
                "Бала сабақты қаншалықты жақсы түсінеді?",
                "إلى أي حد يفهم الطفل الدروس؟",
            ),
            required="yes",
            save_to="language_comfort",
        ),
        end_group(),
        group(
            "learning",
            T("Learning", "Обучение", "Оқу", "التعلّم"),
            relevant=enrolled,
            appearance="field-list",
        ),
        Q(
            "select_one plan_status",
            "has_learning_plan",
            T(
                "Does the child have an individual learning plan?",
                "Есть ли у ребёнка индивидуальный учебный план?",
                "Баланың жеке оқу жоспары бар ма?",
                "هل لدى الطفل خطة تعليمية فردية؟",
            ),
            required="yes",
        ),
        Q(
            "select_one plan_progress",
            "learning_plan_progress",
            T(
                "Progress with the plan",
                "Прогресс по плану",
                "Жоспар бойынша ілгерілеу",
                "التقدّم في الخطة",
            ),
            required="yes",
            relevant="${has_learning_plan} = 'yes'",
            save_to="learning_plan_progress",
        ),
        Q(
            "select_multiple learning_gaps",
            "learning_gaps",
            T(
                "Main learning gaps",
                "Основные пробелы в обучении",
                "Оқудағы негізгі олқылықтар",
                "أهم الثغرات في التعلّم",
            ),
            HINT_SELECT_ALL,
            required="yes",
            constraint=exclusive(),
            constraint_message=MSG_EXCLUSIVE,
        ),
        end_group(),
        group(
            "bullying",
            T(
                "Bullying and stigma (teacher)",
                "Травля и стигма (со слов учителя)",
                "Қорлау және стигма (мұғалімнің айтуынша)",
                "التنمّر والوصم (حسب المعلم)",
            ),
            relevant=enrolled,
            appearance="field-list",
        ),
        Q(
            "select_multiple bullying",
            "bullying_types",
            T(
                "Has the teacher seen or heard of any of these against the child?",
                "Видел(а) или слышал(а) ли учитель что-то из этого в отношении ребёнка?",
                "Мұғалім балаға қатысты осылардың бірін көрді ме, естіді ме?",
                "هل رأى المعلم أو سمع بأي من هذه الأمور ضد الطفل؟",
            ),
            HINT_SELECT_ALL,
            required="yes",
            constraint=exclusive(),
            constraint_message=MSG_EXCLUSIVE,
        ),
        calc(
            "bullying_reported",
            "if(count-selected(${bullying_types}) > 0 and not(selected(${bullying_types}, 'none')), "
            "'yes', 'no')",
            save_to="bullying_reported",
        ),
        Q(
            "text",
            "bullying_details",
            T(
                "What happened, and what did the school do?",
                "Что произошло и что сделала школа?",
                "Не болды және мектеп не істеді?",
                "ماذا حدث وماذا فعلت المدرسة؟",
            ),
            required="yes",
            relevant="${bullying_reported} = 'yes'",
            appearance="multiline",
        ),
        end_group(),
        group(
            "child_voice",
            T(
                "The child's own answers",
                "Ответы самого ребёнка",
                "Баланың өз жауаптары",
                "إجابات الطفل نفسه",
            ),
            relevant=enrolled,
            appearance="field-list",
        ),
        note(
            "child_voice_intro",
            T(
                "Ask the child yourself, in the language the child prefers, away from other children. "
                "Read the questions as written. The child may say no.",
                "Спросите ребёнка сами, на удобном ему языке, без других детей рядом. Читайте вопросы "
                "как написано. Ребёнок может отказаться.",
                "Баладан өзіңіз, оған ыңғайлы тілде, басқа балалардан бөлек сұраңыз. Сұрақтарды "
                "жазылғандай оқыңыз. Бала бас тартуы мүмкін.",
                "اسأل الطفل بنفسك، باللغة التي يفضّلها، بعيداً عن الأطفال الآخرين. اقرأ الأسئلة كما هي "
                "مكتوبة. يمكن للطفل أن يرفض.",
            ),
        ),
        Q(
            "select_one assent",
            "child_assent",
            T(
                "Can I ask you a few questions about school?",
                "Можно задать тебе несколько вопросов о школе?",
                "Саған мектеп туралы бірнеше сұрақ қоюға бола ма?",
                "هل يمكنني أن أسألك بعض الأسئلة عن المدرسة؟",
            ),
            required="yes",
        ),
        Q(
            "select_one child_scale",
            "feel_safe",
            T(
                "Do you feel safe at school?",
                "Ты чувствуешь себя в школе в безопасности?",
                "Мектепте өзіңді қауіпсіз сезінесің бе?",
                "هل تشعر بالأمان في المدرسة؟",
            ),
            required="yes",
            relevant="${child_assent} = 'yes'",
        ),
        Q(
            "select_one child_yn",
            "has_friends",
            T(
                "Do you have friends at school?",
                "У тебя есть друзья в школе?",
                "Мектепте достарың бар ма?",
                "هل لديك أصدقاء في المدرسة؟",
            ),
            required="yes",
            relevant="${child_assent} = 'yes'",
        ),
        Q(
            "select_one child_scale",
            "likes_school",
            T(
                "Do you like going to school?",
                "Тебе нравится ходить в школу?",
                "Мектепке барғаның саған ұнай ма?",
                "هل تحب الذهاب إلى المدرسة؟",
            ),
            required="yes",
            relevant="${child_assent} = 'yes'",
        ),
        Q(
            "select_one child_scale",
            "understands_teacher",
            T(
                "Do you understand what the teacher says?",
                "Ты понимаешь, что говорит учитель?",
                "Мұғалімнің не айтатынын түсінесің бе?",
                "هل تفهم ما يقوله المعلم؟",
            ),
            required="yes",
            relevant="${child_assent} = 'yes'",
        ),
        Q(
            "select_one child_scale",
            "hurt_by_others",
            T(
                "Does anyone at school hurt you, call you names or leave you out?",
                "Кто-нибудь в школе обижает тебя, обзывает или не берёт в игру?",
                "Мектепте біреу сені ренжіте ме, балағаттай ма не ойынға қоспай ма?",
                "هل يؤذيك أحد في المدرسة أو يشتمك أو يتركك وحدك؟",
            ),
            required="yes",
            relevant="${child_assent} = 'yes'",
        ),
        Q(
            "text",
            "child_wish",
            T(
                "What would make school better for you?",
                "Что сделало бы школу лучше для тебя?",
                "Мектепті саған не жақсырақ етер еді?",
                "ما الذي يجعل المدرسة أفضل لك؟",
            ),
            T(
                "Write down the child's own words.",
                "Запишите слова ребёнка.",
                "Баланың өз сөзін жазыңыз.",
                "اكتب كلمات الطفل نفسه.",
            ),
            relevant="${child_assent} = 'yes'",
        ),
        end_group(),
        calc(
            "urgent",
            "if((" + enrolled + ") and (selected(${bullying_types}, 'physical') or "
            "(${child_assent} = 'yes' and ${feel_safe} = 'no')), 'yes', 'no')",
        ),
        note(
            "urgent_note",
            T(
                "URGENT: the child may be unsafe at school. Tell the coordinator today.",
                "СРОЧНО: ребёнок может быть в опасности в школе. Сообщите координатору сегодня.",
                "ШҰҒЫЛ: бала мектепте қауіпте болуы мүмкін. Бүгін үйлестірушіге хабарлаңыз.",
                "عاجل: قد يكون الطفل غير آمن في المدرسة. أبلغ المنسّق اليوم.",
            ),
            relevant="${urgent} = 'yes'",
        ),
        group(
            "closing",
            T(
                "Notes and next check-in",
                "Заметки и следующая проверка",
                "Ескертпелер және келесі тексеру",
                "ملاحظات والمتابعة القادمة",
            ),
        ),
        Q(
            "text",
            "teacher_notes",
            T("Teacher's notes", "Заметки учителя", "Мұғалімнің ескертпелері", "ملاحظات المعلم"),
            appearance="multiline",
        ),
        Q(
            "date",
            "next_checkin_date",
            T(
                "Date of the next check-in",
                "Дата следующей проверки",
                "Келесі тексеру күні",
                "تاريخ المتابعة القادمة",
            ),
            required="yes",
            constraint=". > today()",
            constraint_message=MSG_AFTER_TODAY,
            save_to="next_visit",
        ),
        end_group(),
    ]
    entities = [Entity("children", entity_id="${child}")]
    return Form(
        "school_checkin",
        "School check-in",
        CHILD_LANGS,
        survey,
        instance_name="concat('School check-in ', ${checkin_date}, ' - ', ${child_label})",
        entities=entities,
    )


# ===========================================================================================
# 4. Wellbeing screening
# ===========================================================================================

PHQ9_ITEMS = [
    T(
        "Little interest or pleasure in doing things",
        "Мало интереса или удовольствия от занятий",
        "Бір нәрсе істеуге қызығушылықтың не одан рахат алудың аздығы",
        "قلة الاهتمام أو المتعة في القيام بالأشياء",
    ),
    T(
        "Feeling down, depressed, or hopeless",
        "Плохое настроение, подавленность или безнадёжность",
        "Көңіл-күйдің түсуі, жабырқау не үмітсіздік",
        "الشعور بالإحباط أو الاكتئاب أو اليأس",
    ),
    T(
        "Trouble falling or staying asleep, or sleeping too much",
        "Трудно заснуть, прерывистый сон или слишком долгий сон",
        "Ұйықтап кету не ұйқыны сақтау қиындығы, не тым көп ұйықтау",
        "صعوبة في النوم أو الاستمرار فيه، أو النوم أكثر من اللازم",
    ),
    T(
        "Feeling tired or having little energy",
        "Усталость или упадок сил",
        "Шаршау не күш-қуаттың аздығы",
        "الشعور بالتعب أو قلة الطاقة",
    ),
    T(
        "Poor appetite or overeating",
        "Плохой аппетит или переедание",
        "Тәбеттің нашарлығы не артық тамақтану",
        "ضعف الشهية أو الإفراط في الأكل",
    ),
    T(
        "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
        "Плохое мнение о себе, ощущение, что вы неудачник(-ца) или подвели себя или семью",
        "Өзіңіз туралы жаман ойлау, өзіңізді сәтсіз адам санау не өзіңізді немесе отбасыңызды "
        "ұятқа қалдырдым деп ойлау",
        "الشعور بعدم الرضا عن نفسك، أو بأنك فاشل أو خذلت نفسك أو عائلتك",
    ),
    T(
        "Trouble concentrating on things, such as reading the newspaper or watching television",
        "Трудно сосредоточиться, например, на чтении газеты или просмотре телевизора",
        "Назар аудару қиындығы, мысалы, газет оқығанда не теледидар көргенде",
        "صعوبة في التركيز على الأشياء، مثل قراءة الصحيفة أو مشاهدة التلفاز",
    ),
    T(
        "Moving or speaking so slowly that other people could have noticed, or the opposite: being so "
        "fidgety or restless that you have been moving around a lot more than usual",
        "Вы двигались или говорили так медленно, что окружающие могли это заметить, или наоборот: "
        "были так суетливы или беспокойны, что двигались гораздо больше обычного",
        "Басқалар байқайтындай баяу қозғалу не сөйлеу, немесе керісінше: әдеттегіден әлдеқайда көп "
        "қозғалатындай мазасыздану",
        "الحركة أو الكلام ببطء شديد لدرجة أن الآخرين قد لاحظوا ذلك، أو العكس: التململ أو عدم "
        "الاستقرار بحيث كنت تتحرك أكثر بكثير من المعتاد",
    ),
    T(
        "Thoughts that you would be better off dead, or of hurting yourself in some way",
        "Мысли о том, что лучше было бы умереть, или о том, чтобы как-то причинить себе вред",
        "Өлгенім жақсы болар еді деген ойлар не өзіңізге қандай да бір зиян келтіру туралы ойлар",
        "أفكار بأنه من الأفضل لو كنت ميتاً، أو بإيذاء نفسك بطريقة ما",
    ),
]

GAD7_ITEMS = [
    T(
        "Feeling nervous, anxious, or on edge",
        "Нервозность, тревога или сильное напряжение",
        "Күйгелектік, мазасыздық не қобалжу",
        "الشعور بالعصبية أو القلق أو التوتر",
    ),
    T(
        "Not being able to stop or control worrying",
        "Невозможность перестать волноваться или контролировать беспокойство",
        "Уайымдауды тоқтата не бақылай алмау",
        "عدم القدرة على إيقاف القلق أو السيطرة عليه",
    ),
    T(
        "Worrying too much about different things",
        "Чрезмерное беспокойство о разных вещах",
        "Түрлі нәрселер туралы тым көп уайымдау",
        "القلق الزائد بشأن أمور مختلفة",
    ),
    T("Trouble relaxing", "Трудно расслабиться", "Босаңсу қиындығы", "صعوبة في الاسترخاء"),
    T(
        "Being so restless that it is hard to sit still",
        "Такое беспокойство, что трудно усидеть на месте",
        "Бір орында отыру қиын болатындай мазасыздық",
        "عدم الاستقرار لدرجة يصعب معها الجلوس بهدوء",
    ),
    T(
        "Becoming easily annoyed or irritable",
        "Лёгкая раздражительность или вспыльчивость",
        "Тез ашулану не тітіркену",
        "سرعة الانزعاج أو الغضب",
    ),
    T(
        "Feeling afraid, as if something awful might happen",
        "Страх, будто может случиться что-то ужасное",
        "Бір сұмдық болатындай қорқыныш сезімі",
        "الشعور بالخوف كأن شيئاً فظيعاً قد يحدث",
    ),
]

WHO5_ITEMS = [
    T(
        "I have felt cheerful and in good spirits",
        "Я был(а) бодрым(-ой) и в хорошем настроении",
        "Мен көңілді әрі жақсы көңіл-күйде болдым",
        "شعرت بالبهجة والمزاج الجيد",
    ),
    T(
        "I have felt calm and relaxed",
        "Я чувствовал(а) себя спокойно и расслабленно",
        "Мен өзімді тыныш әрі еркін сезіндім",
        "شعرت بالهدوء والاسترخاء",
    ),
    T(
        "I have felt active and vigorous",
        "Я чувствовал(а) себя активным(-ой) и энергичным(-ой)",
        "Мен өзімді белсенді әрі қуатты сезіндім",
        "شعرت بالنشاط والحيوية",
    ),
    T(
        "I woke up feeling fresh and rested",
        "Я просыпался(-ась) свежим(-ей) и отдохнувшим(-ей)",
        "Мен сергек әрі тынығып ояндым",
        "استيقظت وأنا أشعر بالانتعاش والراحة",
    ),
    T(
        "My daily life has been filled with things that interest me",
        "Моя повседневная жизнь была наполнена тем, что мне интересно",
        "Күнделікті өмірім мені қызықтыратын нәрселерге толы болды",
        "كانت حياتي اليومية مليئة بأشياء تهمّني",
    ),
]

# Child-appropriate wording of the nine PHQ items (PHQ-A style), same order and scoring.
PHQA_ITEMS = [
    T(
        "Not wanting to do things you usually like",
        "Не хотелось заниматься тем, что обычно нравится",
        "Әдетте ұнайтын нәрселермен айналысқың келмеді",
        "عدم الرغبة في فعل الأشياء التي تحبها عادةً",
    ),
    T(
        "Feeling sad, grumpy or without hope",
        "Было грустно, всё раздражало или не было надежды",
        "Мұңайдың, бәрі ашуыңды келтірді не үмітің болмады",
        "الشعور بالحزن أو الضيق أو فقدان الأمل",
    ),
    T(
        "Trouble sleeping, or sleeping too much",
        "Плохо спал(а) или спал(а) слишком много",
        "Нашар ұйықтадың не тым көп ұйықтадың",
        "صعوبة في النوم أو النوم كثيراً",
    ),
    T(
        "Feeling tired or having no energy",
        "Чувствовал(а) усталость, не было сил",
        "Шаршадың, күшің болмады",
        "الشعور بالتعب أو عدم وجود طاقة",
    ),
    T(
        "Not feeling hungry, or eating too much",
        "Не хотелось есть, или ел(а) слишком много",
        "Тамақ ішкің келмеді не тым көп жедің",
        "عدم الشعور بالجوع أو الأكل كثيراً",
    ),
    T(
        "Feeling bad about yourself, or feeling you let your family down",
        "Думал(а) о себе плохо или что подвёл(-ла) семью",
        "Өзің туралы жаман ойладың не отбасыңды ұятқа қалдырдым деп ойладың",
        "الشعور بالسوء تجاه نفسك أو بأنك خذلت عائلتك",
    ),
    T(
        "Finding it hard to concentrate on schoolwork, reading or TV",
        "Трудно было сосредоточиться на учёбе, чтении или телевизоре",
        "Сабаққа, кітап оқуға не теледидарға зейін қою қиын болды",
        "صعوبة في التركيز على الدروس أو القراءة أو التلفاز",
    ),
    T(
        "Moving or talking very slowly, or being so restless you could not sit still",
        "Двигался(-ась) или говорил(а) очень медленно, или не мог(ла) усидеть на месте",
        "Өте баяу қозғалдың не сөйледің, немесе бір орында отыра алмадың",
        "الحركة أو الكلام ببطء شديد، أو عدم القدرة على الجلوس بهدوء",
    ),
    T(
        "Thinking you would be better off dead, or thinking about hurting yourself",
        "Думал(а), что лучше было бы умереть, или думал(а) причинить себе вред",
        "Өлгенім жақсы деп ойладың не өзіңе зиян келтіру туралы ойладың",
        "التفكير بأنه من الأفضل لو كنت ميتاً، أو التفكير في إيذاء نفسك",
    ),
]


def wellbeing_screening() -> Form:
    is_adult = "${subject_type} = 'adult'"
    is_child = "${subject_type} = 'child'"
    phq = [f"phq{i}" for i in range(1, 10)]
    gad = [f"gad{i}" for i in range(1, 8)]
    who = [f"who{i}" for i in range(1, 6)]
    phqa = [f"phqa{i}" for i in range(1, 10)]
    referral = (
        "if(${refer} = 'yes', coalesce(${referral_urgency}, 'yes'), if(${refer} = 'no', 'no', ''))"
    )
    self_harm_label = T(
        "Self-harm answer: ask about safety now and follow your centre's suicide-risk protocol. "
        "This screening will be marked urgent.",
        "Ответ о самоповреждении: сразу спросите о безопасности и действуйте по протоколу центра "
        "при суицидальном риске. Скрининг будет отмечен как срочный.",
        "Өзіне зиян келтіру туралы жауап: дереу қауіпсіздігі туралы сұраңыз және орталықтың "
        "суицид қаупі хаттамасы бойынша әрекет етіңіз. Скрининг шұғыл деп белгіленеді.",
        "إجابة عن إيذاء النفس: اسأل عن السلامة الآن واتبع بروتوكول مركزك لخطر الانتحار. "
        "سيُعلَّم هذا الفحص كحالة عاجلة.",
    )

    survey: list[Row] = [
        *metadata(),
        note(
            "intro",
            T(
                "Wellbeing screening. These questionnaires help decide who needs a psychologist. They do "
                "not give a diagnosis.",
                "Скрининг благополучия. Эти опросники помогают понять, кому нужен психолог. Они не ставят "
                "диагноз.",
                "Әл-ауқат скринингі. Бұл сауалнамалар кімге психолог керек екенін анықтауға көмектеседі. "
                "Олар диагноз қоймайды.",
                "فحص الصحة النفسية. تساعد هذه الاستبيانات على معرفة من يحتاج إلى أخصائي نفسي، ولا تعطي "
                "تشخيصاً.",
            ),
        ),
        Q(
            "select_one subject_type",
            "subject_type",
            T(
                "Who is being screened?",
                "Кто проходит скрининг?",
                "Скринингтен кім өтеді?",
                "من الذي يخضع للفحص؟",
            ),
            T(
                "Use the child questions only for ages 11 to 17.",
                "Вопросы для детей используйте только для возраста 11–17 лет.",
                "Балаларға арналған сұрақтарды тек 11–17 жас үшін қолданыңыз.",
                "استخدم أسئلة الأطفال فقط للأعمار من 11 إلى 17 سنة.",
            ),
            required="yes",
        ),
        Q(
            "date",
            "screening_date",
            T("Date of screening", "Дата скрининга", "Скрининг күні", "تاريخ الفحص"),
            required="yes",
            default="today()",
            constraint=". <= today()",
            constraint_message=MSG_NOT_FUTURE,
        ),
        # ---------------------------------------------------------------- adult
        group("adult_screening", T("Adult", "Взрослый", "Ересек", "البالغ"), relevant=is_adult),
        Q(
            "select_one_from_file adults.csv",
            "adult",
            T("Person", "Человек", "Адам", "الشخص"),
            HINT_CHOOSE_FROM_LIST,
            required="yes",
            appearance="autocomplete",
        ),
        calc("adult_label", "instance('adults')/root/item[name=${adult}]/label"),
        note(
            "adult_intro",
            T(
                "Read each question aloud exactly as written and let the person choose the answer.",
                "Читайте каждый вопрос вслух так, как он написан, и дайте человеку выбрать ответ.",
                "Әр сұрақты жазылғандай дауыстап оқып, жауапты адамның өзі таңдасын.",
                "اقرأ كل سؤال بصوت عالٍ كما هو مكتوب، ودع الشخص يختار الإجابة.",
            ),
        ),
        group(
            "phq9_items",
            T(
                "PHQ-9. Over the last 2 weeks, how often have you been bothered by any of the following "
                "problems?",
                "PHQ-9. Как часто за последние 2 недели вас беспокоили следующие проблемы?",
                "PHQ-9. Соңғы 2 аптада сізді келесі мәселелер қаншалықты жиі мазалады?",
                "PHQ-9. خلال الأسبوعين الماضيين، كم مرة عانيت من أي من المشكلات التالية؟",
            ),
            appearance="field-list",
        ),
        *[
            Q("select_one freq4", n, item, required="yes")
            for n, item in zip(phq, PHQ9_ITEMS, strict=True)
        ],
        end_group(),
        note("adult_self_harm_note", self_harm_label, relevant="${phq9} > 0"),
        calc("adult_phq_total", total(phq), save_to="adults#phq_total"),
        Q(
            "select_one difficulty",
            "phq_difficulty",
            T(
                "If you checked off any problems, how difficult have these problems made it for you to do "
                "your work, take care of things at home, or get along with other people?",
                "Если вы отметили какие-либо проблемы, насколько они затруднили вам работу, домашние дела "
                "или общение с людьми?",
                "Егер қандай да бір мәселені белгілесеңіз, олар жұмыс істеуді, үй шаруасын атқаруды не "
                "адамдармен қарым-қатынасты қаншалықты қиындатты?",
                "إذا أشرت إلى أي مشكلات، فإلى أي حد جعلت هذه المشكلات القيام بعملك أو الاعتناء بأمور "
                "المنزل أو التعامل مع الآخرين صعباً عليك؟",
            ),
            required="yes",
            relevant="${adult_phq_total} > 0",
        ),
        group(
            "gad7_items",
            T(
                "GAD-7. Over the last 2 weeks, how often have you been bothered by the following problems?",
                "GAD-7. Как часто за последние 2 недели вас беспокоили следующие проблемы?",
                "GAD-7. Соңғы 2 аптада сізді келесі мәселелер қаншалықты жиі мазалады?",
                "GAD-7. خلال الأسبوعين الماضيين، كم مرة عانيت من المشكلات التالية؟",
            ),
            appearance="field-list",
        ),
        *[
            Q("select_one freq4", n, item, required="yes")
            for n, item in zip(gad, GAD7_ITEMS, strict=True)
        ],
        end_group(),
        group(
            "who5_items",
            T(
                "WHO-5. For each statement, choose how much of the time you have felt this way over the "
                "last two weeks.",
                "WHO-5. Для каждого утверждения выберите, как часто вы так себя чувствовали за последние "
                "две недели.",
                "WHO-5. Әр тұжырым үшін соңғы екі аптада өзіңізді осылай қаншалықты жиі сезінгеніңізді "
                "таңдаңыз.",
                "WHO-5. لكل عبارة، اختر كم من الوقت شعرت بهذا خلال الأسبوعين الماضيين.",
            ),
            appearance="field-list",
        ),
        *[
            Q("select_one who5_freq", n, item, required="yes")
            for n, item in zip(who, WHO5_ITEMS, strict=True)
        ],
        end_group(),
        calc("adult_gad_total", total(gad), save_to="adults#gad_total"),
        calc("adult_who5_raw", total(who)),
        calc("adult_who5_percent", "${adult_who5_raw} * 4", save_to="adults#who5_percent"),
        group(
            "adult_results",
            T("Results", "Результаты", "Нәтижелер", "النتائج"),
            appearance="field-list",
        ),
        note(
            "adult_scores",
            T(
                "PHQ-9 total: ${adult_phq_total} of 27. GAD-7 total: ${adult_gad_total} of 21. "
                "WHO-5: ${adult_who5_percent}%.",
                "PHQ-9: ${adult_phq_total} из 27. GAD-7: ${adult_gad_total} из 21. "
                "WHO-5: ${adult_who5_percent}%.",
                "PHQ-9: 27-ден ${adult_phq_total}. GAD-7: 21-ден ${adult_gad_total}. "
                "WHO-5: ${adult_who5_percent}%.",
                "PHQ-9: ${adult_phq_total} من 27. GAD-7: ${adult_gad_total} من 21. "
                "WHO-5: ${adult_who5_percent}%.",
            ),
        ),
        Q(
            "select_one phq_band",
            "adult_phq_band",
            T(
                "PHQ-9: severity of depression symptoms",
                "PHQ-9: выраженность симптомов депрессии",
                "PHQ-9: депрессия белгілерінің ауырлығы",
                "PHQ-9: شدة أعراض الاكتئاب",
            ),
            calculation=phq_band("adult_phq_total"),
            read_only="yes",
            save_to="adults#phq_band",
        ),
        Q(
            "select_one gad_band",
            "adult_gad_band",
            T(
                "GAD-7: severity of anxiety symptoms",
                "GAD-7: выраженность симптомов тревоги",
                "GAD-7: мазасыздық белгілерінің ауырлығы",
                "GAD-7: شدة أعراض القلق",
            ),
            calculation=gad_band("adult_gad_total"),
            read_only="yes",
            save_to="adults#gad_band",
        ),
        Q(
            "select_one who5_band",
            "adult_who5_band",
            T("WHO-5: wellbeing", "WHO-5: благополучие", "WHO-5: әл-ауқат", "WHO-5: الصحة النفسية"),
            calculation="if(${adult_who5_percent} <= 50, 'poor', 'adequate')",
            read_only="yes",
        ),
        end_group(),
        # Copies of survey-level answers, so that every adults# property lives in this group
        # (format-date keeps them plain dates: a calculate copy of a date would be a date-time).
        calc(
            "adult_last_screening",
            "format-date(${screening_date}, '%Y-%m-%d')",
            save_to="adults#last_screening_date",
        ),
        calc("adult_referral", referral, save_to="adults#referral"),
        calc(
            "adult_next_visit",
            "format-date(${next_screening_date}, '%Y-%m-%d')",
            save_to="adults#next_visit",
        ),
        end_group(),
        # ---------------------------------------------------------------- child
        group("child_screening", T("Child", "Ребёнок", "Бала", "الطفل"), relevant=is_child),
        Q(
            "select_one_from_file children.csv",
            "child",
            T("Child", "Ребёнок", "Бала", "الطفل"),
            HINT_CHOOSE_FROM_LIST,
            required="yes",
            appearance="autocomplete",
        ),
        calc("child_label", "instance('children')/root/item[name=${child}]/label"),
        note(
            "child_intro",
            T(
                "Read the questions to the child in the language they prefer. Explain that there are no "
                "right or wrong answers and that they can stop at any time.",
                "Читайте вопросы ребёнку на удобном ему языке. Объясните, что здесь нет правильных или "
                "неправильных ответов и что можно остановиться в любой момент.",
                "Сұрақтарды балаға оған ыңғайлы тілде оқыңыз. Дұрыс не бұрыс жауап жоқ екенін және кез "
                "келген уақытта тоқтауға болатынын түсіндіріңіз.",
                "اقرأ الأسئلة للطفل باللغة التي يفضّلها. اشرح له أنه لا توجد إجابات صحيحة أو خاطئة، "
                "وأنه يستطيع التوقف في أي وقت.",
            ),
        ),
        Q(
            "select_one yes_no",
            "child_assent",
            T(
                "Are you happy to answer some questions about how you feel?",
                "Ты согласен(-на) ответить на несколько вопросов о том, как ты себя чувствуешь?",
                "Өзіңді қалай сезінетінің туралы бірнеше сұраққа жауап бересің бе?",
                "هل توافق على الإجابة عن بعض الأسئلة حول شعورك؟",
            ),
            required="yes",
        ),
        note(
            "child_no_assent_note",
            T(
                "Do not continue. Write your own observations in the notes at the end.",
                "Не продолжайте. Запишите свои наблюдения в заметках в конце.",
                "Жалғастырмаңыз. Өз байқауларыңызды соңындағы ескертпелерге жазыңыз.",
                "لا تتابع. اكتب ملاحظاتك في خانة الملاحظات في النهاية.",
            ),
            relevant="${child_assent} = 'no'",
        ),
        group(
            "phqa_items",
            T(
                "In the last 2 weeks, how often did these things bother you?",
                "Как часто за последние 2 недели тебя беспокоило это?",
                "Соңғы 2 аптада бұлар сені қаншалықты жиі мазалады?",
                "خلال الأسبوعين الماضيين، كم مرة أزعجتك هذه الأشياء؟",
            ),
            relevant="${child_assent} = 'yes'",
            appearance="field-list",
        ),
        *[
            Q("select_one child_freq4", n, item, required="yes")
            for n, item in zip(phqa, PHQA_ITEMS, strict=True)
        ],
        end_group(),
        group(
            "child_safety",
            T(
                "A few more questions",
                "Ещё несколько вопросов",
                "Тағы бірнеше сұрақ",
                "بضعة أسئلة أخرى",
            ),
            relevant="${child_assent} = 'yes'",
            appearance="field-list",
        ),
        Q(
            "select_one child_yn",
            "child_serious_thoughts",
            T(
                "In the past month, have you seriously thought about ending your life?",
                "За последний месяц ты всерьёз думал(а) о том, чтобы покончить с собой?",
                "Соңғы бір айда өз-өзіңе қол жұмсау туралы шындап ойладың ба?",
                "خلال الشهر الماضي، هل فكرت جدياً في إنهاء حياتك؟",
            ),
            required="yes",
        ),
        Q(
            "select_one child_yn",
            "child_attempt",
            T(
                "Have you ever tried to kill yourself or hurt yourself badly?",
                "Ты когда-нибудь пытался(-ась) покончить с собой или сильно навредить себе?",
                "Бұрын-соңды өзіңді өлтіруге не өзіңе қатты зиян келтіруге тырыстың ба?",
                "هل حاولت يوماً أن تقتل نفسك أو تؤذي نفسك بشدة؟",
            ),
            required="yes",
        ),
        end_group(),
        calc(
            "child_self_harm",
            "if(${child_assent} = 'yes' and (coalesce(${phqa9}, 0) > 0 or "
            "${child_serious_thoughts} = 'yes' or ${child_attempt} = 'yes'), 'yes', 'no')",
        ),
        note(
            "child_self_harm_note",
            T(
                "Self-harm answer: stay with the child, ask about safety now, tell the psychologist today "
                "and follow the child-protection protocol. This screening will be marked urgent.",
                "Ответ о самоповреждении: оставайтесь с ребёнком, сразу спросите о безопасности, сегодня "
                "же сообщите психологу и действуйте по протоколу защиты детей. Скрининг будет отмечен как "
                "срочный.",
                "Өзіне зиян келтіру туралы жауап: баламен бірге болыңыз, дереу қауіпсіздігі туралы "
                "сұраңыз, бүгін психологқа хабарлаңыз және баланы қорғау хаттамасы бойынша әрекет етіңіз. "
                "Скрининг шұғыл деп белгіленеді.",
                "إجابة عن إيذاء النفس: ابقَ مع الطفل، واسأل عن سلامته الآن، وأبلغ الأخصائي النفسي اليوم، "
                "واتبع بروتوكول حماية الطفل. سيُعلَّم هذا الفحص كحالة عاجلة.",
            ),
            relevant="${child_self_harm} = 'yes'",
        ),
        calc("child_phq_total", total(phqa), save_to="children#phq_total"),
        group(
            "child_results",
            T("Results", "Результаты", "Нәтижелер", "النتائج"),
            relevant="${child_assent} = 'yes'",
            appearance="field-list",
        ),
        note(
            "child_scores",
            T(
                "PHQ-A total: ${child_phq_total} of 27.",
                "PHQ-A: ${child_phq_total} из 27.",
                "PHQ-A: 27-ден ${child_phq_total}.",
                "PHQ-A: ${child_phq_total} من 27.",
            ),
        ),
        Q(
            "select_one phq_band",
            "child_phq_band",
            T(
                "PHQ-A: severity of depression symptoms",
                "PHQ-A: выраженность симптомов депрессии",
                "PHQ-A: депрессия белгілерінің ауырлығы",
                "PHQ-A: شدة أعراض الاكتئاب",
            ),
            calculation=phq_band("child_phq_total"),
            read_only="yes",
            save_to="children#phq_band",
        ),
        end_group(),
        calc(
            "child_last_screening",
            "format-date(${screening_date}, '%Y-%m-%d')",
            save_to="children#last_screening_date",
        ),
        calc("child_referral", referral, save_to="children#referral"),
        calc(
            "child_next_visit",
            "format-date(${next_screening_date}, '%Y-%m-%d')",
            save_to="children#next_visit",
        ),
        end_group(),
        # ---------------------------------------------------------------- outcome
        calc(
            "urgent",
            "if((" + is_adult + " and (${adult_phq_total} >= 20 or ${adult_gad_total} >= 15 or "
            "coalesce(${phq9}, 0) > 0)) or (" + is_child + " and ${child_assent} = 'yes' and "
            "(${child_phq_total} >= 20 or ${child_self_harm} = 'yes')), 'yes', 'no')",
        ),
        group(
            "referral_section",
            T("Referral", "Направление", "Жолдама", "الإحالة"),
            relevant="${subject_type} != ''",
        ),
        note(
            "urgent_note",
            T(
                "URGENT: refer today. If the person is in immediate danger, do not leave them alone and "
                "call the emergency services.",
                "СРОЧНО: направьте сегодня. Если человеку грозит непосредственная опасность, не "
                "оставляйте его одного и вызовите экстренные службы.",
                "ШҰҒЫЛ: бүгін жолдама беріңіз. Адамға тікелей қауіп төнсе, оны жалғыз қалдырмаңыз және "
                "жедел қызметтерді шақырыңыз.",
                "عاجل: قم بالإحالة اليوم. إذا كان الشخص في خطر مباشر، فلا تتركه وحده واتصل بخدمات "
                "الطوارئ.",
            ),
            relevant="${urgent} = 'yes'",
        ),
        Q(
            "select_one yes_no",
            "refer",
            T(
                "Refer to a psychologist?",
                "Направить к психологу?",
                "Психологқа жолдау керек пе?",
                "هل تتم الإحالة إلى أخصائي نفسي؟",
            ),
            required="yes",
            constraint=". = 'yes' or ${urgent} = 'no'",
            constraint_message=T(
                "This screening is urgent: a referral is required.",
                "Скрининг срочный: направление обязательно.",
                "Скрининг шұғыл: жолдама міндетті.",
                "هذا الفحص عاجل: الإحالة مطلوبة.",
            ),
        ),
        Q(
            "select_one referral_urgency",
            "referral_urgency",
            T("How soon?", "Как срочно?", "Қаншалықты шұғыл?", "متى؟"),
            required="yes",
            relevant="${refer} = 'yes'",
            constraint=". = 'today' or ${urgent} = 'no'",
            constraint_message=T(
                "For an urgent screening choose 'Today'.",
                "Для срочного скрининга выберите «Сегодня».",
                "Шұғыл скрининг үшін «Бүгін» деген жауапты таңдаңыз.",
                "في حالة الفحص العاجل اختر «اليوم».",
            ),
        ),
        Q(
            "text",
            "screener_notes",
            T(
                "Screener's notes",
                "Заметки специалиста",
                "Маманның ескертпелері",
                "ملاحظات القائم بالفحص",
            ),
            appearance="multiline",
        ),
        Q(
            "date",
            "next_screening_date",
            T(
                "Date of the next screening or visit",
                "Дата следующего скрининга или визита",
                "Келесі скрининг не бару күні",
                "تاريخ الفحص أو الزيارة القادمة",
            ),
            required="yes",
            constraint=". > today()",
            constraint_message=MSG_AFTER_TODAY,
        ),
        end_group(),
    ]
    entities = [
        Entity("adults", entity_id="${adult}", update_if=is_adult),
        Entity("children", entity_id="${child}", update_if=is_child),
    ]
    return Form(
        "wellbeing_screening",
        "Wellbeing screening",
        CHILD_LANGS,
        survey,
        instance_name="concat('Screening ', ${screening_date}, ' - ', "
        "coalesce(${adult_label}, ${child_label}))",
        entities=entities,
    )


# ===========================================================================================
# Workbook writing
# ===========================================================================================

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
GROUP_FILL = PatternFill("solid", fgColor="EDF2FA")
REPEAT_FILL = PatternFill("solid", fgColor="E8F5E9")
WRAP = Alignment(wrap_text=True, vertical="top")
WRAP_RTL = Alignment(wrap_text=True, vertical="top", horizontal="right", readingOrder=2)

WIDTHS = {
    "type": 34,
    "name": 26,
    "label": 48,
    "hint": 36,
    "required": 12,
    "relevant": 34,
    "constraint": 34,
    "constraint_message": 34,
    "calculation": 48,
    "default": 12,
    "read_only": 10,
    "repeat_count": 16,
    "choice_filter": 18,
    "appearance": 14,
    "parameters": 16,
    "save_to": 30,
    "list_name": 22,
    "entity_id": 18,
    "create_if": 24,
    "update_if": 28,
    "repeat": 12,
    "form_id": 22,
    "form_title": 24,
    "version": 14,
    "default_language": 18,
    "instance_name": 60,
}


def _write_sheet(
    ws: Worksheet,
    headers: list[str],
    rows: list[list[str]],
    base_names: list[str],
    row_fills: list[PatternFill | None] | None = None,
) -> None:
    ws.append(headers)
    for row in rows:
        ws.append([v if v != "" else None for v in row])
    for col, (header, base) in enumerate(zip(headers, base_names, strict=True), start=1):
        letter = get_column_letter(col)
        ws.column_dimensions[letter].width = WIDTHS.get(base, 18)
        rtl = header.endswith("(ar)")
        cell = ws.cell(row=1, column=col)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = WRAP_RTL if rtl else WRAP
        for r in range(2, len(rows) + 2):
            ws.cell(row=r, column=col).alignment = WRAP_RTL if rtl else WRAP
    if row_fills:
        for r, fill in enumerate(row_fills, start=2):
            if fill is not None:
                for col in range(1, len(headers) + 1):
                    ws.cell(row=r, column=col).fill = fill
    ws.freeze_panes = "C2" if "name" in base_names else "A2"


def _check_texts(form: Form, what: str, text: T | None) -> None:
    if text is None:
        return
    for lang in form.langs:
        if not text.get(lang):
            raise ValueError(f"{form.form_id}: {what} has no {lang} text: {text.en!r}")


def _used_lists(form: Form) -> list[str]:
    used: list[str] = []
    for row in form.survey:
        parts = row.type.split()
        if (
            len(parts) == 2
            and parts[0] in ("select_one", "select_multiple")
            and parts[1] not in used
        ):
            used.append(parts[1])
    return used


def build(form: Form, out_dir: Path) -> Path:
    wb = Workbook()

    # survey -----------------------------------------------------------------
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws.title = "survey"
    has_entities = bool(form.entities)
    optional = {
        c
        for c in ("default", "read_only", "repeat_count", "parameters")
        if any(getattr(r, c) for r in form.survey)
    }
    headers: list[str] = ["type", "name"]
    bases: list[str] = ["type", "name"]
    for base in ("label", "hint"):
        for lang in form.langs:
            headers.append(f"{base}::{LANGUAGE_NAMES[lang]}")
            bases.append(base)
    for base in ("required", "relevant", "constraint"):
        headers.append(base)
        bases.append(base)
    for lang in form.langs:
        headers.append(f"constraint_message::{LANGUAGE_NAMES[lang]}")
        bases.append("constraint_message")
    for base in (
        "calculation",
        "default",
        "read_only",
        "repeat_count",
        "choice_filter",
        "appearance",
        "parameters",
        "save_to",
    ):
        if (
            base in optional
            or base in ("calculation", "choice_filter", "appearance")
            or (base == "save_to" and has_entities)
        ):
            headers.append(base)
            bases.append(base)

    rows: list[list[str]] = []
    fills: list[PatternFill | None] = []
    for row in form.survey:
        _check_texts(form, f"label of {row.type} {row.name}", row.label)
        _check_texts(form, f"hint of {row.name}", row.hint)
        _check_texts(form, f"constraint message of {row.name}", row.constraint_message)
        values: list[str] = []
        for header, base in zip(headers, bases, strict=True):
            if base in ("label", "hint", "constraint_message"):
                lang = next(k for k, v in LANGUAGE_NAMES.items() if header.endswith(f"::{v}"))
                text = getattr(row, base)
                values.append(text.get(lang) if text else "")
            else:
                values.append(getattr(row, base))
        rows.append(values)
        if row.type in ("begin group", "end group"):
            fills.append(GROUP_FILL)
        elif row.type in ("begin repeat", "end repeat"):
            fills.append(REPEAT_FILL)
        else:
            fills.append(None)
    _write_sheet(ws, headers, rows, bases, fills)

    # choices ----------------------------------------------------------------
    ws = wb.create_sheet("choices")
    headers = ["list_name", "name", *[f"label::{LANGUAGE_NAMES[lang]}" for lang in form.langs]]
    bases = ["list_name", "name", *["label"] * len(form.langs)]
    rows = []
    for list_name in _used_lists(form):
        for name, text in CHOICES[list_name]:
            _check_texts(form, f"choice {list_name}/{name}", text)
            rows.append([list_name, name, *[text.get(lang) or "" for lang in form.langs]])
    _write_sheet(ws, headers, rows, bases)
    ws.freeze_panes = "C2"

    # settings ---------------------------------------------------------------
    ws = wb.create_sheet("settings")
    headers = ["form_id", "form_title", "version", "default_language", "instance_name"]
    _write_sheet(
        ws,
        headers,
        [[form.form_id, form.title, VERSION, LANGUAGE_NAMES[EN], form.instance_name]],
        headers,
    )
    ws.freeze_panes = "A2"

    # entities ---------------------------------------------------------------
    if form.entities:
        ws = wb.create_sheet("entities")
        cols = ["list_name"] + [
            c
            for c in ("label", "entity_id", "create_if", "update_if", "repeat")
            if any(getattr(e, c) for e in form.entities)
        ]
        _write_sheet(ws, cols, [[getattr(e, c) for c in cols] for e in form.entities], cols)
        ws.freeze_panes = "A2"

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{form.form_id}.xlsx"
    wb.save(path)
    return path


FORMS = (family_registration, home_visit, school_checkin, wellbeing_screening)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "forms",
        help="output folder (default: the repository's forms/)",
    )
    args = parser.parse_args()
    for make in FORMS:
        print(build(make(), args.out))


if __name__ == "__main__":
    main()
