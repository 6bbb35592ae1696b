# Sourced by change_study.sh and gpu_train.sh: the recipes of issue 27's arms, by name, as
# cyclegan-train flags on top of each script's shared ones (shape, scale, budget). One place,
# so the GPU script trains exactly the recipe the CPU study chose.
# shellcheck disable=SC2034  # WINNER is read by the scripts that source this file
WINNER=paper-struct-tone  # the recipe of the long run and of the next bundled pair
arm_flags() {
  case $1 in
    paper)  echo "--lambda-cyc 10 --lambda-id 0.5" ;;   # today's recipe, budgeted
    change) echo "--lambda-cyc 5 --lambda-id 0" ;;      # the arms the issue names
    prior)  echo "--lambda-cyc 5 --lambda-id 0 --arch resnet-prior" ;;
    prior-paper) echo "--lambda-cyc 10 --lambda-id 0.5 --arch resnet-prior" ;;  # the prior, today's losses
    paper-id0) echo "--lambda-cyc 10 --lambda-id 0" ;;  # today's cycle weight, no identity
    paper-bf16) echo "--lambda-cyc 10 --lambda-id 0.5 --precision bf16" ;;  # bf16 autocast
    paper-idfade) echo "--lambda-cyc 10 --lambda-id 0.5 --lambda-id-steps 1800" ;;  # identity fades over ~half of 75 min
    paper-struct) echo "--lambda-cyc 10 --lambda-id 0 --lambda-struct 10" ;;  # structure kept, colours free
    paper-struct-id) echo "--lambda-cyc 10 --lambda-id 0.1 --lambda-struct 10" ;;  # and a weak identity against inverted tones
    paper-struct-tone) echo "--lambda-cyc 10 --lambda-id 0 --lambda-struct 10 --lambda-tone 2 --precision bf16" ;;  # or a tone loss against them
    paper-struct-tone05) echo "--lambda-cyc 10 --lambda-id 0 --lambda-struct 10 --lambda-tone 0.5 --precision bf16" ;;  # a quarter of that tone weight
    change-struct-tone) echo "--lambda-cyc 5 --lambda-id 0 --lambda-struct 10 --lambda-tone 2 --precision bf16" ;;  # and half the cycle weight
    change-light) echo "--lambda-cyc 5 --lambda-id 0 --lambda-struct 2 --lambda-tone 0.5 --precision bf16" ;;  # a fifth of those anchors: the other season's render then costs about one adversarial term
    proj-struct-tone) echo "--lambda-cyc 10 --lambda-id 0 --lambda-struct 10 --lambda-tone 2 --precision bf16 --discriminator projected --projected-size 224 --projected-loss hinge --projected-blur 2 --projected-blur-steps 1000" ;;  # paper-struct-tone, projected D as its paper runs it
    both-struct-tone) echo "--lambda-cyc 10 --lambda-id 0 --lambda-struct 10 --lambda-tone 2 --precision bf16 --discriminator both --projected-size 224 --projected-loss hinge --projected-blur 2 --projected-blur-steps 1000" ;;  # and the PatchGAN beside it, to hold the colours the projected D alone drained
    *) echo "unknown arm $1" >&2; exit 2 ;;
  esac
}
