"""The words of the public callback form `/rueckruf/<line>` and of the SMS confirming a request,
per language: built in for German, Turkish, Arabic, Russian and English (to be reviewed by
native speakers), each key replaceable in `[callback_form.<code>]`; another language of a
line needs all of them there. Checked at load (`config.model`).
"""

from __future__ import annotations

# Each key and the placeholders it may use.
FORM_TEXTS: dict[str, frozenset[str]] = {
    "page_title": frozenset(),
    "intro": frozenset(),
    "privacy": frozenset(),
    "emergency": frozenset(),
    "errors_summary": frozenset(),
    "phone_label": frozenset(),
    "phone_hint": frozenset(),
    "name_label": frozenset(),
    "window_legend": frozenset(),
    "window_egal": frozenset(),
    "window_morgens": frozenset(),
    "window_mittags": frozenset(),
    "window_nachmittags": frozenset(),
    "window_abends": frozenset(),
    "date_label": frozenset(),
    "date_hint": frozenset(),
    "message_label": frozenset(),
    "message_hint": frozenset({"max"}),
    "sms_label": frozenset(),
    "sms_hint": frozenset(),
    "honeypot_label": frozenset(),
    "submit": frozenset(),
    "thanks_title": frozenset(),
    "thanks_text": frozenset(),
    "limited_title": frozenset(),
    "limited_text": frozenset(),
    "limited_call": frozenset(),
    "too_large_title": frozenset(),
    "too_large_text": frozenset(),
    "back": frozenset(),
    "missing_title": frozenset(),
    "missing_text": frozenset(),
    "error_phone": frozenset(),
    "error_phone_type": frozenset(),
    "error_name": frozenset({"max"}),
    "error_time_window": frozenset(),
    "error_preferred_date": frozenset({"days"}),
    "error_message": frozenset({"max"}),
    "error_characters": frozenset(),
    "expired": frozenset(),
    "language_label": frozenset(),
    "confirmation_sms": frozenset(),
}

BUILT_IN: dict[str, dict[str, str]] = {
    "de": {
        "page_title": "Rückruf anfordern",
        "intro": (
            "Hinterlassen Sie uns eine Telefonnummer. Wir rufen Sie zurück, möglichst in dem "
            "Zeitraum, den Sie wählen."
        ),
        "privacy": (
            "Ihre Angaben werden verschlüsselt gespeichert, nur vom zuständigen Beratungsteam "
            "gelesen und gelöscht, sobald sie nicht mehr gebraucht werden. Sie müssen Ihren "
            "Namen nicht nennen."
        ),
        "emergency": "In einem Notfall rufen Sie bitte die Polizei unter 110 an.",
        "errors_summary": (
            "Bitte korrigieren Sie die markierten Angaben. Es wurde noch nichts gesendet."
        ),
        "phone_label": "Telefonnummer",
        "phone_hint": "Festnetz oder Handy, in jeder üblichen Schreibweise.",
        "name_label": (
            "Vorname oder ein anderer Name, mit dem wir Sie ansprechen dürfen (freiwillig)"
        ),
        "window_legend": "Wann dürfen wir anrufen?",
        "window_egal": "jederzeit",
        "window_morgens": "morgens (8–11 Uhr)",
        "window_mittags": "mittags (11–14 Uhr)",
        "window_nachmittags": "nachmittags (14–17 Uhr)",
        "window_abends": "abends (17–20 Uhr)",
        "date_label": "An einem bestimmten Tag? (freiwillig)",
        "date_hint": "Leer lassen, wenn jeder Tag passt.",
        "message_label": "Kurze Nachricht (freiwillig)",
        "message_hint": (
            "Höchstens {max} Zeichen. Schreiben Sie nur, was Sie uns mitteilen möchten."
        ),
        "sms_label": "Bestätigung per SMS an diese Nummer",
        "sms_hint": "Der Text der SMS nennt weder uns noch ein Thema.",
        "honeypot_label": "Bitte leer lassen",
        "submit": "Rückruf anfordern",
        "thanks_title": "Vielen Dank",
        "thanks_text": (
            "Ihre Bitte um Rückruf ist bei uns eingegangen. Wir melden uns, so bald wir können."
        ),
        "limited_title": "Im Moment nicht möglich",
        "limited_text": (
            "Von hier oder für diese Nummer sind schon mehrere Rückrufbitten eingegangen. "
            "Bitte versuchen Sie es später noch einmal"
        ),
        "limited_call": "oder rufen Sie uns an:",
        "too_large_title": "Zu viel Text",
        "too_large_text": (
            "Das Formular war zu groß und wurde nicht gesendet. Bitte kürzen Sie Ihre "
            "Nachricht und versuchen Sie es noch einmal."
        ),
        "back": "Zurück zum Formular",
        "missing_title": "Seite nicht gefunden",
        "missing_text": "Diese Seite gibt es nicht. Bitte prüfen Sie die Adresse.",
        "error_phone": (
            "Bitte geben Sie eine Telefonnummer an, unter der wir Sie erreichen "
            "(zum Beispiel 0151 23456789)."
        ),
        "error_phone_type": "Bitte geben Sie eine Festnetz- oder Mobilnummer an.",
        "error_name": "Bitte höchstens {max} Zeichen.",
        "error_time_window": "Bitte wählen Sie, wann wir anrufen dürfen.",
        "error_preferred_date": (
            "Bitte wählen Sie einen Tag in den nächsten {days} Tagen oder lassen Sie das Feld leer."
        ),
        "error_message": "Bitte höchstens {max} Zeichen.",
        "error_characters": (
            "Bitte ohne Steuerzeichen und ohne Zeichen, die die Schreibrichtung umkehren."
        ),
        "expired": (
            "Das Formular war zu lange geöffnet. Bitte prüfen Sie Ihre Angaben und senden Sie "
            "es noch einmal."
        ),
        "language_label": "Sprache",
        "confirmation_sms": "Vielen Dank, Ihre Rückrufbitte ist eingegangen. Wir melden uns.",
    },
    "tr": {
        "page_title": "Geri arama talep edin",
        "intro": (
            "Bize bir telefon numarası bırakın. Sizi, mümkünse seçtiğiniz zaman aralığında "
            "geri arayacağız."
        ),
        "privacy": (
            "Bilgileriniz şifrelenerek saklanır, yalnızca ilgili danışmanlık ekibi tarafından "
            "okunur ve artık gerekmediğinde silinir. Adınızı vermek zorunda değilsiniz."
        ),
        "emergency": "Acil bir durumda lütfen 110 numarasından polisi arayın.",
        "errors_summary": "Lütfen işaretli bilgileri düzeltin. Henüz hiçbir şey gönderilmedi.",
        "phone_label": "Telefon numarası",
        "phone_hint": "Sabit hat veya cep telefonu, alışılmış herhangi bir yazımla.",
        "name_label": "Adınız veya size hitap edebileceğimiz başka bir isim (isteğe bağlı)",
        "window_legend": "Sizi ne zaman arayabiliriz?",
        "window_egal": "her zaman",
        "window_morgens": "sabah (08–11)",
        "window_mittags": "öğle (11–14)",
        "window_nachmittags": "öğleden sonra (14–17)",
        "window_abends": "akşam (17–20)",
        "date_label": "Belirli bir gün mü? (isteğe bağlı)",
        "date_hint": "Her gün uygunsa boş bırakın.",
        "message_label": "Kısa mesaj (isteğe bağlı)",
        "message_hint": "En fazla {max} karakter. Yalnızca bize iletmek istediklerinizi yazın.",
        "sms_label": "Bu numaraya SMS ile onay",
        "sms_hint": "SMS metninde ne bizim adımız ne de bir konu geçer.",
        "honeypot_label": "Lütfen boş bırakın",
        "submit": "Geri arama talep edin",
        "thanks_title": "Teşekkür ederiz",
        "thanks_text": ("Geri arama talebiniz bize ulaştı. En kısa sürede size dönüş yapacağız."),
        "limited_title": "Şu anda mümkün değil",
        "limited_text": (
            "Buradan veya bu numara için şimdiden birkaç geri arama talebi geldi. Lütfen daha "
            "sonra tekrar deneyin"
        ),
        "limited_call": "ya da bizi arayın:",
        "too_large_title": "Metin çok uzun",
        "too_large_text": (
            "Form çok büyüktü ve gönderilmedi. Lütfen mesajınızı kısaltın ve tekrar deneyin."
        ),
        "back": "Forma geri dön",
        "missing_title": "Sayfa bulunamadı",
        "missing_text": "Bu sayfa mevcut değil. Lütfen adresi kontrol edin.",
        "error_phone": (
            "Lütfen size ulaşabileceğimiz bir telefon numarası girin (örneğin 0151 23456789)."
        ),
        "error_phone_type": "Lütfen bir sabit hat veya cep telefonu numarası girin.",
        "error_name": "Lütfen en fazla {max} karakter kullanın.",
        "error_time_window": "Lütfen sizi ne zaman arayabileceğimizi seçin.",
        "error_preferred_date": (
            "Lütfen önümüzdeki {days} gün içinden bir gün seçin veya alanı boş bırakın."
        ),
        "error_message": "Lütfen en fazla {max} karakter kullanın.",
        "error_characters": (
            "Lütfen kontrol karakterleri ve yazı yönünü tersine çeviren karakterler kullanmayın."
        ),
        "expired": (
            "Form çok uzun süre açık kaldı. Lütfen bilgilerinizi kontrol edin ve formu tekrar "
            "gönderin."
        ),
        "language_label": "Dil",
        "confirmation_sms": "Teşekkürler, geri arama talebiniz bize ulaştı. Size dönüş yapacağız.",
    },
    "ar": {
        "page_title": "طلب معاودة الاتصال",
        "intro": "اترك لنا رقم هاتف. سنعاود الاتصال بك، في الفترة التي تختارها إن أمكن.",
        "privacy": (
            "تُحفظ بياناتك مشفّرة، ولا يقرؤها إلا فريق الاستشارة المختص، وتُحذف حين لا تعود "
            "هناك حاجة إليها. لست مضطرًا إلى ذكر اسمك."
        ),
        "emergency": "في حالة الطوارئ، يُرجى الاتصال بالشرطة على الرقم 110.",
        "errors_summary": "يُرجى تصحيح البيانات المُعلَّمة. لم يُرسَل أي شيء بعد.",
        "phone_label": "رقم الهاتف",
        "phone_hint": "هاتف أرضي أو محمول، بأي طريقة كتابة معتادة.",
        "name_label": "الاسم الأول أو اسم آخر يمكننا أن نخاطبك به (اختياري)",
        "window_legend": "متى يمكننا الاتصال بك؟",
        "window_egal": "في أي وقت",
        "window_morgens": "صباحًا (8–11)",
        "window_mittags": "ظهرًا (11–14)",
        "window_nachmittags": "بعد الظهر (14–17)",
        "window_abends": "مساءً (17–20)",
        "date_label": "في يوم محدد؟ (اختياري)",
        "date_hint": "اتركه فارغًا إذا كان أي يوم مناسبًا.",
        "message_label": "رسالة قصيرة (اختياري)",
        "message_hint": "{max} حرفًا على الأكثر. اكتب فقط ما تريد إبلاغنا به.",
        "sms_label": "تأكيد برسالة نصية إلى هذا الرقم",
        "sms_hint": "لا يذكر نص الرسالة اسمنا ولا أي موضوع.",
        "honeypot_label": "يُرجى تركه فارغًا",
        "submit": "طلب معاودة الاتصال",
        "thanks_title": "شكرًا لك",
        "thanks_text": "وصلنا طلبك لمعاودة الاتصال. سنتواصل معك في أقرب وقت ممكن.",
        "limited_title": "غير ممكن في الوقت الحالي",
        "limited_text": (
            "وصلتنا بالفعل عدة طلبات لمعاودة الاتصال من هنا أو لهذا الرقم. يُرجى المحاولة لاحقًا"
        ),
        "limited_call": "أو الاتصال بنا:",
        "too_large_title": "النص طويل جدًا",
        "too_large_text": (
            "كان النموذج كبيرًا جدًا ولم يُرسَل. يُرجى اختصار رسالتك والمحاولة مرة أخرى."
        ),
        "back": "العودة إلى النموذج",
        "missing_title": "الصفحة غير موجودة",
        "missing_text": "هذه الصفحة غير موجودة. يُرجى التحقق من العنوان.",
        "error_phone": "يُرجى إدخال رقم هاتف يمكننا الوصول إليك عليه (مثلًا 0151 23456789).",
        "error_phone_type": "يُرجى إدخال رقم هاتف أرضي أو محمول.",
        "error_name": "يُرجى ألا يتجاوز النص {max} حرفًا.",
        "error_time_window": "يُرجى اختيار الوقت الذي يمكننا الاتصال بك فيه.",
        "error_preferred_date": (
            "يُرجى اختيار يوم خلال الأيام الـ{days} القادمة أو ترك الحقل فارغًا."
        ),
        "error_message": "يُرجى ألا يتجاوز النص {max} حرفًا.",
        "error_characters": "يُرجى عدم استخدام أحرف التحكم أو الأحرف التي تعكس اتجاه الكتابة.",
        "expired": ("بقي النموذج مفتوحًا مدة طويلة جدًا. يُرجى التحقق من بياناتك وإرساله مرة أخرى."),
        "language_label": "اللغة",
        "confirmation_sms": "شكرًا لك، وصلنا طلبك لمعاودة الاتصال. سنتواصل معك.",
    },
    "ru": {
        "page_title": "Заказать обратный звонок",
        "intro": (
            "Оставьте нам номер телефона. Мы перезвоним вам, по возможности в выбранное вами время."
        ),
        "privacy": (
            "Ваши данные хранятся в зашифрованном виде, их читает только ответственная команда "
            "консультантов, и они удаляются, как только перестают быть нужны. Называть своё "
            "имя не обязательно."
        ),
        "emergency": "В экстренной ситуации звоните в полицию по номеру 110.",
        "errors_summary": "Пожалуйста, исправьте отмеченные данные. Пока ничего не отправлено.",
        "phone_label": "Номер телефона",
        "phone_hint": "Стационарный или мобильный, в любом привычном написании.",
        "name_label": ("Имя или другое имя, по которому мы можем к вам обращаться (необязательно)"),
        "window_legend": "Когда нам можно позвонить?",
        "window_egal": "в любое время",
        "window_morgens": "утром (8–11 ч)",
        "window_mittags": "днём (11–14 ч)",
        "window_nachmittags": "после обеда (14–17 ч)",
        "window_abends": "вечером (17–20 ч)",
        "date_label": "В определённый день? (необязательно)",
        "date_hint": "Оставьте пустым, если подходит любой день.",
        "message_label": "Короткое сообщение (необязательно)",
        "message_hint": "Не более {max} символов. Напишите только то, что хотите нам сообщить.",
        "sms_label": "Подтверждение по SMS на этот номер",
        "sms_hint": "В тексте SMS не упоминаются ни мы, ни какая-либо тема.",
        "honeypot_label": "Пожалуйста, оставьте пустым",
        "submit": "Заказать обратный звонок",
        "thanks_title": "Спасибо",
        "thanks_text": (
            "Ваша просьба об обратном звонке получена. Мы свяжемся с вами, как только сможем."
        ),
        "limited_title": "Сейчас это невозможно",
        "limited_text": (
            "Отсюда или для этого номера уже поступило несколько просьб об обратном звонке. "
            "Пожалуйста, попробуйте позже"
        ),
        "limited_call": "или позвоните нам:",
        "too_large_title": "Слишком много текста",
        "too_large_text": (
            "Форма была слишком большой и не была отправлена. Пожалуйста, сократите сообщение "
            "и попробуйте ещё раз."
        ),
        "back": "Назад к форме",
        "missing_title": "Страница не найдена",
        "missing_text": "Такой страницы нет. Пожалуйста, проверьте адрес.",
        "error_phone": (
            "Пожалуйста, укажите номер телефона, по которому мы можем с вами связаться "
            "(например, 0151 23456789)."
        ),
        "error_phone_type": "Пожалуйста, укажите стационарный или мобильный номер.",
        "error_name": "Пожалуйста, не более {max} символов.",
        "error_time_window": "Пожалуйста, выберите, когда нам можно позвонить.",
        "error_preferred_date": (
            "Пожалуйста, выберите день в ближайшие {days} дней или оставьте поле пустым."
        ),
        "error_message": "Пожалуйста, не более {max} символов.",
        "error_characters": (
            "Пожалуйста, без управляющих символов и символов, меняющих направление письма."
        ),
        "expired": (
            "Форма была открыта слишком долго. Пожалуйста, проверьте данные и отправьте её ещё раз."
        ),
        "language_label": "Язык",
        "confirmation_sms": (
            "Спасибо, ваша просьба об обратном звонке получена. Мы свяжемся с вами."
        ),
    },
    "en": {
        "page_title": "Request a call back",
        "intro": (
            "Leave us a phone number. We will call you back, if possible at the time you choose."
        ),
        "privacy": (
            "What you enter is stored encrypted, read only by the counselling team in charge "
            "and deleted as soon as it is no longer needed. You do not have to give your name."
        ),
        "emergency": "In an emergency, please call the police on 110.",
        "errors_summary": "Please correct the marked entries. Nothing has been sent yet.",
        "phone_label": "Phone number",
        "phone_hint": "Landline or mobile, written any usual way.",
        "name_label": "First name or another name we may call you by (optional)",
        "window_legend": "When may we call you?",
        "window_egal": "any time",
        "window_morgens": "morning (8–11 am)",
        "window_mittags": "midday (11 am–2 pm)",
        "window_nachmittags": "afternoon (2–5 pm)",
        "window_abends": "evening (5–8 pm)",
        "date_label": "On a particular day? (optional)",
        "date_hint": "Leave empty if any day suits you.",
        "message_label": "Short message (optional)",
        "message_hint": "At most {max} characters. Write only what you want to tell us.",
        "sms_label": "Confirmation by text message to this number",
        "sms_hint": "The text message names neither us nor any topic.",
        "honeypot_label": "Please leave empty",
        "submit": "Request a call back",
        "thanks_title": "Thank you",
        "thanks_text": (
            "We have received your request for a call back. We will get back to you as soon as "
            "we can."
        ),
        "limited_title": "Not possible at the moment",
        "limited_text": (
            "Several call-back requests have already come from here or for this number. Please "
            "try again later"
        ),
        "limited_call": "or call us:",
        "too_large_title": "Too much text",
        "too_large_text": (
            "The form was too large and has not been sent. Please shorten your message and try "
            "again."
        ),
        "back": "Back to the form",
        "missing_title": "Page not found",
        "missing_text": "This page does not exist. Please check the address.",
        "error_phone": (
            "Please enter a phone number on which we can reach you (for example 0151 23456789)."
        ),
        "error_phone_type": "Please enter a landline or mobile number.",
        "error_name": "Please use at most {max} characters.",
        "error_time_window": "Please choose when we may call you.",
        "error_preferred_date": (
            "Please choose a day within the next {days} days or leave the field empty."
        ),
        "error_message": "Please use at most {max} characters.",
        "error_characters": (
            "Please do not use control characters or characters that reverse the writing direction."
        ),
        "expired": ("The form was open for too long. Please check your entries and send it again."),
        "language_label": "Language",
        "confirmation_sms": (
            "Thank you, your request for a call back has arrived. We will be in touch."
        ),
    },
}
