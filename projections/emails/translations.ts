/**
 * The shipped wording of both emails. `{{product}}`, `{{lifetime}}` (the code's lifetime in the
 * reader's words: "10 minutes", "10 Minuten") are filled in when sent; the code goes between
 * `beforeCode` and `afterCode`.
 */
export interface ResetWording {
  subject: string;
  beforeCode: string[];
  afterCode: string[];
}

export interface ChangedWording {
  subject: string;
  paragraphs: string[];
}

export interface Wording {
  dir: "ltr" | "rtl";
  reset: ResetWording;
  changed: ChangedWording;
}

export const WORDING: Record<string, Wording> = {
  en: {
    dir: "ltr",
    reset: {
      subject: "Reset your password",
      beforeCode: [
        "Hello,",
        "We received a request to reset the password of your {{product}} account.",
        "Enter this code to choose a new password:",
      ],
      afterCode: [
        "The code expires in {{lifetime}} and works only once.",
        "If you did not ask for a password reset, ignore this email: your password stays unchanged.",
      ],
    },
    changed: {
      subject: "Your password was changed",
      paragraphs: [
        "Hello,",
        "The password of your {{product}} account was just changed, and every session that was signed in has been signed out.",
        "If this was you, there is nothing else to do.",
        "If it was not you, reset your password right away and contact support.",
      ],
    },
  },
  de: {
    dir: "ltr",
    reset: {
      subject: "Setzen Sie Ihr Passwort zurück",
      beforeCode: [
        "Hallo,",
        "wir haben eine Anfrage erhalten, das Passwort Ihres {{product}}-Kontos zurückzusetzen.",
        "Geben Sie diesen Code ein, um ein neues Passwort festzulegen:",
      ],
      afterCode: [
        "Der Code ist {{lifetime}} lang gültig und kann nur einmal verwendet werden.",
        "Wenn Sie kein neues Passwort angefordert haben, ignorieren Sie diese E-Mail: Ihr Passwort bleibt unverändert.",
      ],
    },
    changed: {
      subject: "Ihr Passwort wurde geändert",
      paragraphs: [
        "Hallo,",
        "das Passwort Ihres {{product}}-Kontos wurde soeben geändert, und alle angemeldeten Sitzungen wurden abgemeldet.",
        "Wenn Sie das waren, müssen Sie nichts weiter tun.",
        "Wenn nicht, setzen Sie Ihr Passwort sofort zurück und wenden Sie sich an den Support.",
      ],
    },
  },
  fr: {
    dir: "ltr",
    reset: {
      subject: "Réinitialisez votre mot de passe",
      beforeCode: [
        "Bonjour,",
        "Nous avons reçu une demande de réinitialisation du mot de passe de votre compte {{product}}.",
        "Saisissez ce code pour choisir un nouveau mot de passe\u00a0:",
      ],
      afterCode: [
        "Ce code expire dans {{lifetime}} et ne peut servir qu’une seule fois.",
        "Si vous n’avez pas demandé à réinitialiser votre mot de passe, ignorez cet e-mail\u00a0: votre mot de passe reste inchangé.",
      ],
    },
    changed: {
      subject: "Votre mot de passe a été modifié",
      paragraphs: [
        "Bonjour,",
        "Le mot de passe de votre compte {{product}} vient d’être modifié, et toutes les sessions ouvertes ont été déconnectées.",
        "Si c’est bien vous, vous n’avez rien d’autre à faire.",
        "Sinon, réinitialisez votre mot de passe sans attendre et contactez le support.",
      ],
    },
  },
  es: {
    dir: "ltr",
    reset: {
      subject: "Restablece tu contraseña",
      beforeCode: [
        "Hola:",
        "Hemos recibido una solicitud para restablecer la contraseña de tu cuenta de {{product}}.",
        "Introduce este código para elegir una contraseña nueva:",
      ],
      afterCode: [
        "El código caduca en {{lifetime}} y solo se puede usar una vez.",
        "Si no has solicitado restablecer la contraseña, ignora este correo: tu contraseña no cambiará.",
      ],
    },
    changed: {
      subject: "Tu contraseña ha cambiado",
      paragraphs: [
        "Hola:",
        "Se acaba de cambiar la contraseña de tu cuenta de {{product}} y se han cerrado todas las sesiones que estaban abiertas.",
        "Si has sido tú, no tienes que hacer nada más.",
        "Si no has sido tú, restablece tu contraseña de inmediato y ponte en contacto con el servicio de asistencia.",
      ],
    },
  },
  "pt-BR": {
    dir: "ltr",
    reset: {
      subject: "Redefina sua senha",
      beforeCode: [
        "Olá,",
        "Recebemos uma solicitação para redefinir a senha da sua conta {{product}}.",
        "Digite este código para escolher uma nova senha:",
      ],
      afterCode: [
        "O código expira em {{lifetime}} e só pode ser usado uma vez.",
        "Se você não pediu para redefinir a senha, ignore este e-mail: sua senha continua a mesma.",
      ],
    },
    changed: {
      subject: "Sua senha foi alterada",
      paragraphs: [
        "Olá,",
        "A senha da sua conta {{product}} acabou de ser alterada, e todas as sessões conectadas foram encerradas.",
        "Se foi você, não é preciso fazer mais nada.",
        "Se não foi você, redefina sua senha imediatamente e entre em contato com o suporte.",
      ],
    },
  },
  it: {
    dir: "ltr",
    reset: {
      subject: "Reimposta la password",
      beforeCode: [
        "Ciao,",
        "abbiamo ricevuto una richiesta di reimpostazione della password del tuo account {{product}}.",
        "Inserisci questo codice per scegliere una nuova password:",
      ],
      afterCode: [
        "Il codice scade tra {{lifetime}} e si può usare una sola volta.",
        "Se non hai chiesto di reimpostare la password, ignora questa email: la tua password resta invariata.",
      ],
    },
    changed: {
      subject: "La tua password è stata modificata",
      paragraphs: [
        "Ciao,",
        "la password del tuo account {{product}} è appena stata modificata e tutte le sessioni attive sono state disconnesse.",
        "Se la modifica l’hai fatta tu, non devi fare nient’altro.",
        "In caso contrario, reimposta subito la password e contatta l’assistenza.",
      ],
    },
  },
  ja: {
    dir: "ltr",
    reset: {
      subject: "パスワードの再設定",
      beforeCode: [
        "{{product}} アカウントのパスワード再設定のリクエストを受け付けました。",
        "次のコードを入力して、新しいパスワードを設定してください。",
      ],
      afterCode: [
        "このコードの有効期限は{{lifetime}}で、使用できるのは1回のみです。",
        "パスワードの再設定をリクエストしていない場合は、このメールを無視してください。パスワードは変更されません。",
      ],
    },
    changed: {
      subject: "パスワードが変更されました",
      paragraphs: [
        "{{product}} アカウントのパスワードが変更され、サインイン中のすべてのセッションからサインアウトしました。",
        "ご本人による変更であれば、これ以上の操作は必要ありません。",
        "お心当たりがない場合は、すぐにパスワードを再設定し、サポートまでご連絡ください。",
      ],
    },
  },
  ar: {
    dir: "rtl",
    reset: {
      subject: "إعادة تعيين كلمة المرور",
      beforeCode: [
        "مرحبًا،",
        "تلقّينا طلبًا لإعادة تعيين كلمة المرور لحسابك على {{product}}.",
        "أدخِل هذا الرمز لاختيار كلمة مرور جديدة:",
      ],
      afterCode: [
        "تنتهي صلاحية الرمز بعد {{lifetime}}، ولا يمكن استخدامه إلا مرة واحدة.",
        "إذا لم تطلب إعادة تعيين كلمة المرور، فتجاهل هذه الرسالة، وستبقى كلمة المرور كما هي.",
      ],
    },
    changed: {
      subject: "تم تغيير كلمة المرور",
      paragraphs: [
        "مرحبًا،",
        "تم للتو تغيير كلمة المرور لحسابك على {{product}}، وتم تسجيل الخروج من جميع الجلسات المفتوحة.",
        "إذا كنت أنت من قام بذلك، فلا داعي لأي إجراء آخر.",
        "وإن لم تكن أنت، فأعد تعيين كلمة المرور فورًا وتواصل مع فريق الدعم.",
      ],
    },
  },
};

export const SHIPPED_LOCALES = Object.keys(WORDING);
