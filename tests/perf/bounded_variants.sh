# Sourced by seed_answers.sh and confirmed_answers.sh: the six bounded_activation variants (seeds 001/002)
# as NAME:SETTING=VALUE ..., and the one-trial study each runs with the rest fixed.
BOUNDED_VARIANTS=(
  "tanh:activation=tanh"
  "truncation-exact:activation=truncation truncation_mode=exact threshold=1.0"
  "truncation-straight_through:activation=truncation truncation_mode=straight_through threshold=1.0"
  "truncation-trainable:activation=truncation truncation_mode=trainable threshold=1.0"
  "bump-shared:activation=bump sigma_parametrization=shared sigma=1.0"
  "bump-per_channel:activation=bump sigma_parametrization=per_channel sigma=1.0"
)

# bounded_study SEARCH HOME VARIANT: runs the variant's one-trial study bounded-NAME (Adam, lr 0.003, 8 filters of 5×5).
bounded_study() {
  local sets=()
  for kv in ${3#*:}; do sets+=(--set "$kv"); done
  $1 run bounded_activation --study "bounded-${3%%:*}" --trials 1 "${sets[@]}" --set optimizer=adam \
    --set learning_rate=0.003 --set filters=8 --set kernel_size=5 --set batch_size=32 --home "$2"
}
