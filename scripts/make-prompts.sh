#!/usr/bin/env bash
# Generates the default Brazilian Portuguese prompts into prompts/pt-BR/ as 8 kHz mono
# 16-bit PCM WAV (what atende plays without conversion):
#   welcome.wav    spoken welcome (espeak-ng, voice pt-br)
#   hold-music.wav ~24 s synthesized arpeggio over a soft bass line (sox), faded at both ends so
#                  the loop point is smooth
#   ura/*.wav      the IVR phrases of the shipped flows (ivr-flows/)
#   digits/, numbers/, words/, dates/, months/
#                  fragments the IVR chains to say numbers, dates, times and the protocol
#                  (names fixed by src/ivr/say.rs)
#   fila/*.wav     queue announcements (position, estimated wait), chained with numbers/,
#                  and the callback request dialog
#   agente/*.wav   confirmations of the agents' feature codes (*45 login, *46, *47, *48)
#                  and the cues an agent hears on a callback
#   pesquisa/*.wav the satisfaction survey (ISA) of the demo config ([surveys.atendimento])
# PROMPTS=base only regenerates welcome and hold music, PROMPTS=ivr only the IVR prompts,
# PROMPTS=acd only the queue and agent prompts, PROMPTS=survey only the survey's
# (default: all).
# Everything is synthesized here: no recorded or copyrighted audio.
# Needs: espeak-ng, sox   (Debian/Ubuntu: apt-get install -y espeak-ng sox)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/prompts/pt-BR}"
mkdir -p "$out"
for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "make-prompts: $tool not found" >&2; exit 1; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Final format for every prompt.
to_8k() { sox "$1" -r 8000 -c 1 -b 16 -e signed-integer "$2" "${@:3}"; }

want() { [ "${PROMPTS:-all}" = all ] || [ "${PROMPTS:-all}" = "$1" ]; }

if want base; then
# --- welcome -------------------------------------------------------------------------
welcome="Bem-vindo à central de atendimento do Instituto. Esta ligação é gravada. \
Aguarde, você será atendido por um de nossos atendentes."
espeak-ng -v pt-br -s 145 -p 45 -w "$tmp/welcome-raw.wav" "$welcome"
# Leading silence so the first syllable survives media set-up; telephone band; -3 dBFS peak.
# (Hold music is normalized lower, -9 dBFS peak, so it sits under speech loudness.)
to_8k "$tmp/welcome-raw.wav" "$out/welcome.wav" \
    highpass 200 lowpass 3400 gain -n -3 pad 0.3 0.5

# --- hold music ----------------------------------------------------------------------
# Chords (3 s each) as semitone offsets from A4 (sox "%n" notation): four chord tones for
# the arpeggio, then the bass root an octave below.
chords=(
    "-9 -5 -2 3 -21"     # C
    "-12 -9 -5 0 -24"    # Am
    "-16 -12 -9 -4 -28"  # F
    "-14 -10 -7 -2 -26"  # G
    "-9 -5 -2 3 -21"     # C
    "-12 -9 -5 0 -24"    # Am
    "-7 -4 0 5 -19"      # Dm
    "-14 -10 -7 -2 -26"  # G
)
pattern=(0 1 2 3 2 1 2 1)   # up and back down, eight notes per chord
rate=16000
n=0
for c in "${!chords[@]}"; do
    read -r -a tones <<<"${chords[$c]}"
    for i in "${pattern[@]}"; do
        sox -n -r $rate -c 1 -b 16 "$tmp/arp-$(printf %04d $n).wav" \
            synth 0.375 pluck "%${tones[$i]}" vol 0.45 fade 0 0.375 0.12
        n=$((n + 1))
    done
    sox -n -r $rate -c 1 -b 16 "$tmp/bass-$(printf %02d "$c").wav" \
        synth 3 sine "%${tones[4]}" vol 0.3 fade 0.4 3 0.8
done
sox "$tmp"/arp-*.wav "$tmp/arp.wav"
sox "$tmp"/bass-*.wav "$tmp/bass.wav"
sox -m "$tmp/arp.wav" "$tmp/bass.wav" "$tmp/mix.wav"
to_8k "$tmp/mix.wav" "$out/hold-music.wav" \
    reverb 25 50 60 lowpass 3400 gain -n -9 fade t 0.5 24 1.5

for f in "$out"/welcome.wav "$out"/hold-music.wav; do
    printf '%s: %s\n' "$f" "$(soxi -r "$f") Hz, $(soxi -c "$f") ch, $(soxi -b "$f") bit, $(soxi -d "$f")"
done
fi

if want ivr; then
# --- IVR phrases ------------------------------------------------------------------------
# name|text. Short, plain sentences: the telephone band and the synthetic voice both favour
# them. Menus say the option before the key ("para X, tecle N").
phrases() {
    cat <<'TXT'
ura/boas-vindas|Bem-vindo à central de atendimento do Instituto. Esta ligação é gravada. Tenha em mãos o seu CPF.
ura/boas-vindas-acessibilidade|Central de atendimento preferencial do Instituto. Aguarde, você será atendido por um de nossos atendentes.
ura/fora-do-horario|O atendimento com atendentes funciona de segunda a sexta-feira, das oito às dezoito horas. Os serviços automáticos continuam disponíveis.
ura/feriado|Hoje é feriado e não há atendentes. Os serviços automáticos continuam disponíveis.
ura/menu-principal|Para perícia médica, tecle 1. Para benefícios, aposentadoria e pensão, tecle 2. Para pagamentos e imposto de renda, tecle 3. Para recadastramento e dependentes, tecle 4. Para a situação do seu processo, tecle 5. Para certidões, tecle 6. Para atendimento presencial, tecle 7. Para ouvir o seu protocolo, tecle 8. Para falar com um atendente, tecle 0.
ura/menu-pericia|Perícia médica. Para agendar, tecle 1. Para remarcar, tecle 2. Para o resultado, tecle 3. Para voltar, tecle 9. Para falar com um atendente, tecle 0.
ura/menu-beneficios|Benefícios. Para revisão de benefício, tecle 1. Para pedir aposentadoria, tecle 2. Para isenção de imposto de renda, tecle 3. Para pensão, tecle 4. Para voltar, tecle 9. Para falar com um atendente, tecle 0.
ura/menu-pagamentos|Pagamentos. Para o calendário de pagamento, tecle 1. Para pagamento não recebido, tecle 2. Para o informe de rendimentos, tecle 3. Para empréstimo consignado, tecle 4. Para voltar, tecle 9. Para falar com um atendente, tecle 0.
ura/menu-cadastro|Cadastro. Para recadastramento e prova de vida, tecle 1. Para dependentes, tecle 2. Para atualizar seus dados, tecle 3. Para voltar, tecle 9. Para falar com um atendente, tecle 0.
ura/menu-certidoes|Certidões. Para certidão de tempo de contribuição, tecle 1. Para declaração de vínculo, tecle 2. Para voltar, tecle 9. Para falar com um atendente, tecle 0.
ura/menu-presencial|Atendimento presencial. Para agendar, tecle 1. Para endereços e horários, tecle 2. Para voltar, tecle 9. Para falar com um atendente, tecle 0.
ura/menu-autoatendimento|Para a situação do seu processo, tecle 1. Para o calendário de pagamento, tecle 2. Para ouvir o seu protocolo, tecle 3. Para falar com um atendente, tecle 0. Para encerrar, tecle 9.
ura/menu-depois-consulta|Para voltar ao menu, tecle 9. Para falar com um atendente, tecle 0.
ura/opcao-invalida|Opção inválida.
ura/nao-ouvi|Não recebemos a sua opção.
ura/calendario-pagamento|Os pagamentos são feitos nos cinco últimos dias úteis de cada mês, conforme o final do número do benefício.
ura/info-recadastramento|O recadastramento é anual, no mês do seu aniversário. Você será atendido para agendar.
ura/enderecos|Os postos de atendimento funcionam de segunda a sexta-feira, das oito às dezessete horas. Os endereços estão no site do Instituto.
ura/transferindo|Aguarde, você será atendido por um de nossos atendentes.
ura/atendentes-indisponiveis|Não há atendentes neste horário. Ligue de segunda a sexta-feira, das oito às dezoito horas.
ura/despedida|Obrigado por ligar. Até logo.
ura/seu-protocolo|O número do seu protocolo é
ura/repetir-protocolo|Para ouvir novamente, tecle 1. Para voltar, tecle 9. Para falar com um atendente, tecle 0.
ura/digite-cpf|Digite o seu CPF, somente os números.
ura/voce-digitou|Você digitou
ura/confirma-cpf|Se está correto, tecle 1. Para digitar novamente, tecle 2.
ura/cpf-invalido|CPF inválido.
ura/cpf-nao-validado|Não foi possível validar o seu CPF.
ura/consultando|Aguarde, estamos consultando o seu processo.
ura/status-em-analise|O seu processo está em análise.
ura/status-deferido|O seu processo foi deferido.
ura/status-indeferido|O seu processo foi indeferido. Você pode pedir recurso.
ura/status-exigencia|O seu processo aguarda documentos. Compareça a um posto de atendimento.
ura/numero-processo|Número do processo:
ura/processo-nao-encontrado|Não encontramos processo para este CPF.
ura/sistema-indisponivel|O sistema de consulta está indisponível no momento.
TXT
    for d in 0 1 2 3 4 5 6 7 8 9; do
        words=(zero um dois três quatro cinco seis sete oito nove)
        echo "digits/$d|${words[$d]}"
    done
    local n=(zero um dois três quatro cinco seis sete oito nove dez onze doze treze catorze \
        quinze dezesseis dezessete dezoito dezenove)
    for i in "${!n[@]}"; do echo "numbers/$i|${n[$i]}"; done
    local tens=([2]=vinte [3]=trinta [4]=quarenta [5]=cinquenta [6]=sessenta [7]=setenta \
        [8]=oitenta [9]=noventa)
    for t in "${!tens[@]}"; do echo "numbers/${t}0|${tens[$t]}"; done
    local hundreds=([1]=cem [2]=duzentos [3]=trezentos [4]=quatrocentos [5]=quinhentos \
        [6]=seiscentos [7]=setecentos [8]=oitocentos [9]=novecentos)
    for h in "${!hundreds[@]}"; do echo "numbers/${h}00|${hundreds[$h]}"; done
    cat <<'TXT'
numbers/cento|cento
numbers/mil|mil
numbers/milhao|milhão
numbers/milhoes|milhões
numbers/1f|uma
numbers/2f|duas
words/e|e
words/de|de
words/hora|hora
words/horas|horas
words/minuto|minuto
words/minutos|minutos
dates/primeiro|primeiro
TXT
    local months=(janeiro fevereiro março abril maio junho julho agosto setembro outubro \
        novembro dezembro)
    for i in "${!months[@]}"; do printf 'months/%02d|%s\n' $((i + 1)) "${months[$i]}"; done
}

count=0
while IFS='|' read -r name text; do
    mkdir -p "$out/$(dirname "$name")"
    espeak-ng -v pt-br -s 150 -p 45 -w "$tmp/phrase.wav" "$text"
    case "$name" in
        ura/*)
            # Whole sentences: a little air before and after.
            to_8k "$tmp/phrase.wav" "$out/$name.wav" \
                highpass 200 lowpass 3400 gain -n -3 \
                silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.15 0.25 ;;
        *)
            # Fragments are chained into one utterance: trim them tight.
            to_8k "$tmp/phrase.wav" "$out/$name.wav" \
                highpass 200 lowpass 3400 gain -n -3 \
                silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.05 ;;
    esac
    count=$((count + 1))
done < <(phrases)
printf 'IVR: %d prompts in %s (%s)\n' "$count" "$out" "$(du -sh "$out" | cut -f1) total"
fi

if want acd; then
# --- queue announcements and agent feature codes -----------------------------------------
acd_phrases() {
    cat <<'TXT'
fila/sua-posicao|Sua posição na fila é
fila/mais-de|mais de
fila/tempo-estimado|O tempo estimado de espera é de
fila/oferta-retorno|Se preferir que o Instituto retorne a sua ligação, sem perder a sua vez na fila, tecle
fila/retorno-numero|Vamos retornar a ligação para o número
fila/retorno-confirmar|Para confirmar, tecle 1. Para informar outro número, tecle 2. Para continuar aguardando na linha, tecle asterisco.
fila/retorno-digite|Digite o número do telefone com DDD e, ao final, tecle sustenido.
fila/retorno-invalido|Número inválido.
fila/retorno-registrado|Pronto. Sua solicitação de retorno foi registrada e você não perde a sua vez. Ligaremos assim que um atendente estiver disponível.
fila/retorno-indisponivel|Não foi possível registrar o retorno agora. Continue aguardando na linha, por favor.
agente/retorno-inicio|Retorno de ligação. Aguarde, estamos chamando o cidadão.
agente/retorno-falhou|Não foi possível falar com o cidadão. Uma nova tentativa será feita mais tarde.
agente/login-ok|Login efetuado. Você está disponível.
agente/logout-ok|Logout efetuado.
agente/pausa-ok|Você está em pausa.
agente/pronto-ok|Você está disponível.
agente/codigo-invalido|Código inválido.
TXT
}
count=0
while IFS='|' read -r name text; do
    mkdir -p "$out/$(dirname "$name")"
    espeak-ng -v pt-br -s 150 -p 45 -w "$tmp/phrase.wav" "$text"
    to_8k "$tmp/phrase.wav" "$out/$name.wav" \
        highpass 200 lowpass 3400 gain -n -3 \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.05 0.1
    count=$((count + 1))
done < <(acd_phrases)
printf 'ACD: %d prompts in %s\n' "$count" "$out"
fi

if want survey; then
# --- satisfaction survey (ISA) --------------------------------------------------------------
# The questions say the scale; "opção inválida" and "não recebemos" are the IVR's own.
survey_phrases() {
    cat <<'TXT'
pesquisa/introducao|Antes de encerrar, responda à nossa pesquisa de satisfação. São duas perguntas rápidas.
pesquisa/atendente|Como você avalia o atendimento prestado pelo atendente? Tecle de 1 a 5, sendo 1 muito insatisfeito e 5 muito satisfeito.
pesquisa/instituto|Como você avalia os serviços do Instituto? Tecle de 1 a 5, sendo 1 muito insatisfeito e 5 muito satisfeito.
pesquisa/obrigado|Obrigado por avaliar o nosso atendimento. Até logo.
TXT
}
count=0
while IFS='|' read -r name text; do
    mkdir -p "$out/$(dirname "$name")"
    espeak-ng -v pt-br -s 150 -p 45 -w "$tmp/phrase.wav" "$text"
    to_8k "$tmp/phrase.wav" "$out/$name.wav" \
        highpass 200 lowpass 3400 gain -n -3 \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.15 0.25
    count=$((count + 1))
done < <(survey_phrases)
printf 'Survey: %d prompts in %s\n' "$count" "$out"
fi
