"""Published constants of the Aguiar et al. daily (MTM) and hourly (TAG) radiation-synthesis models.

Data and tiny closed-form functions only (numpy); no sampling logic lives here.

Papers
------
[P1] R. J. Aguiar, M. Collares-Pereira, J. P. Conde, "Simple procedure for generating sequences of
     daily radiation values using a library of Markov transition matrices", Solar Energy 40(3),
     269-279, 1988. doi:10.1016/0038-092X(88)90049-7
[P2] R. Aguiar, M. Collares-Pereira, "TAG: a time-dependent, autoregressive, Gaussian model for
     generating synthetic hourly radiation", Solar Energy 49(3), 167-174, 1992.
     doi:10.1016/0038-092X(92)90068-L

The papers' own tables were NOT available to us; every number below is transcribed from public
implementations and cross-checked between them. Where they disagree, that is stated.

Sources (commits are those held by the code index that was searched)
--------------------------------------------------------------------
[S1] github.com/susantoj/synthetic-solar, synth_solar.py (commit 0289d5e8...), J. Susanto 2014:
     ``Aguiar_daily_Kt`` (MTM_lib, MTM_min, MTM_max, MTM_states) and ``Aguiar_hourly_kt`` (TAG).
[S2] github.com/oscarperpinan/solar (the solaR R package, O. Perpinan, UPM):
     drafts/ktm.dat (commit d57454c7...): the 10 matrices as a 100 x 10 table;
     drafts/fAguiar.R (commit bdc16665...): ``Ktm`` class limits and ``Ktlim`` min/max rows;
     R/markovG0.R (commit 9fa7b723...): bins = seq(Kt_min, Kt_max, length = 11);
     man/aguiar.Rd: identifies MTM/Ktlim/Ktm as the [P1] library.
[S3] Java class ``GeneraGdm0`` (package conexionredtrabajo1, author "Ruben"): matrices ``matriz``,
     ``ktmin``, ``ktmax``. Repository not identified by the index (stored file id 29642726653).
[S4] Ruby SketchUp plug-in "Solar3DBR", class ``SyntheticIrrad`` (MTM_KT, KT_MAX_MIN, TAG
     formulas), a line-numbered listing. Repository not identified (stored file id 48453192721).
[S5] Python class ``SolarInputs.hourlyktsim`` (uses the names lda/eps/kap). Repository not
     identified (stored file id 16197623616).
[S6] Java/C# ``TAGModel`` (package de.josmer.application.sun, "formula 4.5"-"4.11"); several stored
     versions, e.g. file ids 26762282730 and 26275423132. Repository not identified.
Copies of [S1] that were seen but are not independent: a student project embedding synth_solar.py
(file id 26756967386), a commented copy in B. Pillot's greece.solartools (file id 7751791225), and
synthesiseHourlyClearnessIndexes.m, 'aguiar' branch (file id 9692032267).

Cross-check: MTM library
------------------------
* Kt_min / Kt_max per class: identical in S1, S2, S3 and S4.
* Class limits of Kt_m (0.30, 0.35, ..., 0.70): identical in S1, S2, S3 and S4.
* Matrices: S1 and S2 agree on all 1000 entries except one, and the array below follows S2 there
  (S1 is a typo). S3 and S4 agree with S2 except where listed:
    - class 4, row 1, col 8: S1 has 0.530 (that row would then sum to 1.53); S2, S3, S4 and the
      copy 26756967386 have 0.000 -> 0.000 used.
    - class 6, row 0, col 8: S3 has 0.87 (row sum 1.78); S1, S2, S4 have 0.087 -> 0.087 used.
    - class 2, row 5, col 4: S4 has 0.124; S1, S2, S3 have 0.125 -> 0.125 used (row sums 1.001).
    - class 6, row 4, col 7: S4 has 0.282; S1, S2, S3 have 0.283 -> 0.283 used (row sums 0.999).
    - class 8 rows 0 and 1, and class 9 row 0: S1, S2 and S4 put 1.000 in column 8. S3 has all
      zeros there. Class 9 row 1 is uniform 0.100 in all four sources. These four rows look like
      fill-ins for states with no observed transitions, not measured frequencies. The 1.000
      version is used because three of the four sources have it. They matter for very clear
      (desert) months, but only when the previous day's Kt falls in the two lowest bins.
* Row sums: every row is within +/-0.003 of 1 (the entries are rounded to 3 decimals).
  Renormalise the rows before sampling: ``P / P.sum(-1, keepdims=True)``.
* S1 and S2 are independent codebases (Australia; Spain, UPM). S3 and S4 are independent of both,
  but all four may trace back to one secondary transcription, e.g. the tables in Lorenzo's
  chapter of Luque & Hegedus, Handbook of PV Science and Engineering (2003), which S1 cites. So
  agreement between them does not prove the printed [P1] table was transcribed correctly.

Bin convention (how the matrices are used)
------------------------------------------
All four implementations split [Kt_min, Kt_max] of the selected class into 10 bins of equal
width (S1: arange(min, max, (max-min)/10); S2: seq(min, max, length=11); S3: dkt=(max-min)/10;
S4: (max-min)/10). Row i is the bin of the previous day's Kt; column j is the bin of the next
day's Kt. The new Kt is then placed inside bin j: S2 draws it uniformly; S1 and S3 reuse the
random number that picked j (S1 interpolates linearly between the cumulative probabilities).
``MTM_KT_BIN_EDGES`` below is derived from Kt_min and Kt_max by this rule; it is not a table
printed in any source. Class selection follows the comments in
S1 and the code in S4: Kt_m <= 0.30 -> class 0, 0.30 < Kt_m <= 0.35 -> class 1, ...,
Kt_m > 0.70 -> class 9. (S1's np.digitize call actually closes the intervals on the left; the
difference only matters exactly at a limit.)

Cross-check: TAG formulas ([P2]). Kt is the daily clearness index, h the solar elevation.
------------------------------------------------------------------------------------------
  kt_m  = lambda + epsilon * exp(-kappa / sin h)
  lambda  = -0.19 + 1.12 Kt + 0.24 exp(-8 Kt)            S1, S4, S5, S6 agree
  epsilon =  0.32 - 1.6 (Kt - 0.5)^2                     S1, S4, S5, S6 agree
  kappa   =  0.19 + 2.27 Kt^2 - 2.51 Kt^3                S1, S4, S5, S6 agree
  phi_1   =  0.38 + 0.06 cos(7.4 Kt - 2.5)               S1, S4, S5, S6 agree
  sigma   =  A exp(B (1 - sin h)),  A = 0.14 exp(-20 (Kt - 0.35)^2)   S1, S4, S5, S6 agree
  B       =  3 (Kt - 0.45)^2 + 16 Kt^5                   S1, S5 (and the copies of S1)
             3 (Kt - 0.45)^2 + 0.16 Kt^5                 S4
             3 [(Kt - 0.45)^2 + 16 Kt^5]                 S6
  B is therefore NOT settled. The S1/S5 reading is implemented (see ``TAG_B_KT5``). The S6
  grouping gives sigma of order 1-10 at low sun on clear days, which is implausible for a
  clearness index. S4 (0.16) cannot be ruled out on plausibility grounds.
Note that sigma depends on the solar elevation as well as on Kt, so ``tag_sigma`` takes
sin_elevation. How sigma enters the AR(1) recursion y_h = phi_1 y_(h-1) + r differs between
implementations:
  - S4, S5 and S6 draw r with standard deviation sigma * sqrt(1 - phi_1^2); S1 uses sigma.
  - S1, S5 and S6 then set kt = kt_m + sigma * y, so sigma enters twice.
  - The MATLAB copy uses sigma * sqrt(1 - phi_1^2) both for r and for the back-transform.
  - S1, S4 and S6 draw the normal quantile as (z^0.135 - (1 - z)^0.135) / 0.1975, z ~ U(0, 1).
A self-consistent version normalises y to unit variance (sd of r = sqrt(1 - phi_1^2)) and sets
kt = kt_m + sigma * y. That is our reading, not checked against [P2], and is not encoded here.
Upper truncation found in S1, S4 and S6 (not confirmed in [P2]): kt <= 0.88 cos(pi t / 30),
where t is the hour's mid-point in hours from solar noon (S1: 0.88 cos(pi (h - 12.5) / 30),
h = 1..24 the hour ending; S6 "formula 4.11"). Not used: ``weather.synthetic`` caps hourly kt at
1.05 times the clear-sky model's clearness instead.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------------------------
# MTM library [P1]
# --------------------------------------------------------------------------------------------

#: Upper limits of the monthly-mean clearness index Kt_m for classes 0..8 (class 9: Kt_m > 0.70).
#: S1 ``MTM_states``; S2 ``Ktm`` (with a trailing 1 as the top limit); S3 and S4 in code.
MTM_KTM_CLASS_LIMITS = np.array([0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70])

#: Smallest daily Kt of each class (S1 ``MTM_min``, S2 ``Ktlim[1, ]``, S3 ``ktmin``, S4).
MTM_KT_MIN = np.array([0.031, 0.058, 0.051, 0.052, 0.028, 0.053, 0.044, 0.085, 0.010, 0.319])

#: Largest daily Kt of each class (S1 ``MTM_max``, S2 ``Ktlim[2, ]``, S3 ``ktmax``, S4).
MTM_KT_MAX = np.array([0.705, 0.694, 0.753, 0.753, 0.807, 0.856, 0.818, 0.846, 0.842, 0.865])

#: Markov transition matrices, shape (class, from-bin, to-bin) = (10, 10, 10). Rows are as
#: printed (3 decimals): they sum to 1 only within +/-0.003. Values: S2 drafts/ktm.dat (= S1,
#: except for S1's 0.530 typo). See the module docstring for the rows that differ by source.
MTM = np.array([
    # class 0: Kt_m <= 0.30
    [[0.229, 0.333, 0.208, 0.042, 0.083, 0.042, 0.042, 0.021, 0.000, 0.000],
     [0.167, 0.319, 0.194, 0.139, 0.097, 0.028, 0.042, 0.000, 0.014, 0.000],
     [0.250, 0.250, 0.091, 0.136, 0.091, 0.046, 0.046, 0.023, 0.068, 0.000],
     [0.158, 0.237, 0.158, 0.263, 0.026, 0.053, 0.079, 0.026, 0.000, 0.000],
     [0.211, 0.053, 0.211, 0.158, 0.053, 0.053, 0.158, 0.105, 0.000, 0.000],
     [0.125, 0.125, 0.250, 0.188, 0.063, 0.125, 0.000, 0.125, 0.000, 0.000],
     [0.040, 0.240, 0.080, 0.120, 0.080, 0.080, 0.120, 0.120, 0.080, 0.040],
     [0.000, 0.250, 0.000, 0.125, 0.000, 0.125, 0.125, 0.250, 0.063, 0.063],
     [0.000, 0.250, 0.000, 0.125, 0.250, 0.000, 0.250, 0.000, 0.000, 0.125],
     [0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.500, 0.250, 0.000, 0.250]],
    # class 1: 0.30 < Kt_m <= 0.35
    [[0.000, 0.000, 0.091, 0.000, 0.364, 0.091, 0.182, 0.000, 0.273, 0.000],
     [0.118, 0.118, 0.176, 0.118, 0.059, 0.118, 0.176, 0.059, 0.059, 0.000],
     [0.067, 0.267, 0.067, 0.200, 0.067, 0.000, 0.133, 0.133, 0.000, 0.067],
     [0.118, 0.235, 0.000, 0.235, 0.059, 0.176, 0.118, 0.000, 0.059, 0.000],
     [0.077, 0.154, 0.308, 0.077, 0.154, 0.077, 0.000, 0.077, 0.077, 0.000],
     [0.083, 0.000, 0.167, 0.250, 0.083, 0.167, 0.000, 0.083, 0.167, 0.000],
     [0.222, 0.222, 0.000, 0.111, 0.111, 0.000, 0.111, 0.222, 0.000, 0.000],
     [0.091, 0.182, 0.273, 0.000, 0.091, 0.273, 0.000, 0.091, 0.000, 0.000],
     [0.111, 0.111, 0.111, 0.222, 0.000, 0.000, 0.000, 0.222, 0.111, 0.111],
     [0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.500, 0.000, 0.000, 0.500]],
    # class 2: 0.35 < Kt_m <= 0.40
    [[0.206, 0.088, 0.176, 0.176, 0.088, 0.029, 0.176, 0.029, 0.029, 0.000],
     [0.120, 0.100, 0.140, 0.160, 0.120, 0.220, 0.100, 0.000, 0.020, 0.020],
     [0.077, 0.123, 0.185, 0.123, 0.077, 0.139, 0.092, 0.123, 0.061, 0.000],
     [0.048, 0.111, 0.095, 0.206, 0.206, 0.190, 0.095, 0.048, 0.000, 0.000],
     [0.059, 0.137, 0.118, 0.137, 0.098, 0.118, 0.118, 0.157, 0.059, 0.000],
     [0.014, 0.097, 0.139, 0.153, 0.125, 0.139, 0.208, 0.056, 0.042, 0.028],
     [0.073, 0.101, 0.116, 0.145, 0.087, 0.159, 0.203, 0.087, 0.029, 0.000],
     [0.019, 0.037, 0.111, 0.056, 0.074, 0.111, 0.185, 0.296, 0.074, 0.037],
     [0.035, 0.069, 0.035, 0.000, 0.035, 0.103, 0.172, 0.138, 0.379, 0.035],
     [0.000, 0.167, 0.167, 0.000, 0.167, 0.000, 0.000, 0.333, 0.000, 0.167]],
    # class 3: 0.40 < Kt_m <= 0.45
    [[0.167, 0.167, 0.167, 0.000, 0.083, 0.125, 0.000, 0.167, 0.125, 0.000],
     [0.117, 0.117, 0.150, 0.117, 0.083, 0.117, 0.200, 0.067, 0.017, 0.017],
     [0.049, 0.085, 0.134, 0.158, 0.098, 0.110, 0.134, 0.134, 0.061, 0.037],
     [0.039, 0.090, 0.141, 0.141, 0.167, 0.141, 0.090, 0.141, 0.039, 0.013],
     [0.009, 0.139, 0.074, 0.093, 0.194, 0.139, 0.167, 0.093, 0.074, 0.019],
     [0.036, 0.018, 0.117, 0.099, 0.144, 0.180, 0.180, 0.117, 0.072, 0.036],
     [0.000, 0.046, 0.061, 0.061, 0.136, 0.159, 0.273, 0.167, 0.098, 0.000],
     [0.016, 0.056, 0.080, 0.128, 0.104, 0.080, 0.160, 0.208, 0.136, 0.032],
     [0.011, 0.053, 0.021, 0.043, 0.128, 0.096, 0.074, 0.223, 0.277, 0.074],
     [0.000, 0.074, 0.037, 0.000, 0.074, 0.074, 0.074, 0.074, 0.333, 0.259]],
    # class 4: 0.45 < Kt_m <= 0.50
    [[0.120, 0.200, 0.160, 0.120, 0.120, 0.120, 0.080, 0.000, 0.040, 0.040],
     [0.100, 0.080, 0.120, 0.140, 0.140, 0.200, 0.180, 0.040, 0.000, 0.000],
     [0.046, 0.114, 0.068, 0.171, 0.125, 0.171, 0.080, 0.159, 0.057, 0.011],
     [0.015, 0.061, 0.084, 0.099, 0.191, 0.153, 0.153, 0.115, 0.115, 0.015],
     [0.024, 0.030, 0.098, 0.098, 0.165, 0.195, 0.195, 0.140, 0.043, 0.012],
     [0.015, 0.026, 0.062, 0.124, 0.144, 0.170, 0.170, 0.222, 0.062, 0.005],
     [0.000, 0.013, 0.045, 0.108, 0.112, 0.175, 0.188, 0.224, 0.117, 0.018],
     [0.008, 0.023, 0.054, 0.066, 0.093, 0.125, 0.191, 0.253, 0.183, 0.004],
     [0.006, 0.022, 0.061, 0.033, 0.067, 0.083, 0.139, 0.222, 0.322, 0.044],
     [0.000, 0.046, 0.091, 0.091, 0.046, 0.046, 0.136, 0.091, 0.273, 0.182]],
    # class 5: 0.50 < Kt_m <= 0.55
    [[0.250, 0.179, 0.107, 0.107, 0.143, 0.071, 0.107, 0.036, 0.000, 0.000],
     [0.133, 0.022, 0.089, 0.111, 0.156, 0.178, 0.111, 0.133, 0.067, 0.000],
     [0.064, 0.048, 0.143, 0.048, 0.175, 0.143, 0.206, 0.095, 0.079, 0.000],
     [0.000, 0.022, 0.078, 0.111, 0.156, 0.156, 0.244, 0.167, 0.044, 0.022],
     [0.016, 0.027, 0.037, 0.069, 0.160, 0.219, 0.230, 0.160, 0.075, 0.005],
     [0.013, 0.025, 0.030, 0.093, 0.144, 0.202, 0.215, 0.219, 0.055, 0.004],
     [0.006, 0.041, 0.035, 0.064, 0.090, 0.180, 0.337, 0.192, 0.049, 0.006],
     [0.012, 0.021, 0.029, 0.035, 0.132, 0.123, 0.184, 0.371, 0.082, 0.012],
     [0.008, 0.016, 0.016, 0.024, 0.071, 0.103, 0.159, 0.270, 0.309, 0.024],
     [0.000, 0.000, 0.000, 0.000, 0.059, 0.000, 0.059, 0.294, 0.412, 0.176]],
    # class 6: 0.55 < Kt_m <= 0.60
    [[0.217, 0.087, 0.000, 0.174, 0.130, 0.087, 0.087, 0.130, 0.087, 0.000],
     [0.026, 0.079, 0.132, 0.079, 0.026, 0.158, 0.158, 0.132, 0.158, 0.053],
     [0.020, 0.020, 0.020, 0.040, 0.160, 0.180, 0.160, 0.200, 0.100, 0.100],
     [0.025, 0.013, 0.038, 0.076, 0.076, 0.139, 0.139, 0.266, 0.215, 0.013],
     [0.030, 0.030, 0.050, 0.020, 0.091, 0.131, 0.162, 0.283, 0.131, 0.071],
     [0.006, 0.006, 0.013, 0.057, 0.057, 0.121, 0.204, 0.287, 0.185, 0.064],
     [0.004, 0.026, 0.037, 0.030, 0.093, 0.107, 0.193, 0.307, 0.167, 0.037],
     [0.011, 0.009, 0.014, 0.042, 0.041, 0.071, 0.152, 0.418, 0.203, 0.041],
     [0.012, 0.022, 0.022, 0.038, 0.019, 0.050, 0.113, 0.281, 0.360, 0.084],
     [0.008, 0.024, 0.039, 0.039, 0.063, 0.039, 0.118, 0.118, 0.284, 0.268]],
    # class 7: 0.60 < Kt_m <= 0.65
    [[0.067, 0.133, 0.133, 0.067, 0.067, 0.200, 0.133, 0.133, 0.067, 0.000],
     [0.118, 0.059, 0.059, 0.059, 0.059, 0.118, 0.118, 0.235, 0.118, 0.059],
     [0.000, 0.024, 0.024, 0.049, 0.146, 0.073, 0.195, 0.244, 0.195, 0.049],
     [0.026, 0.000, 0.026, 0.026, 0.053, 0.184, 0.263, 0.184, 0.237, 0.000],
     [0.014, 0.000, 0.042, 0.056, 0.069, 0.097, 0.139, 0.306, 0.278, 0.000],
     [0.009, 0.009, 0.052, 0.069, 0.052, 0.112, 0.215, 0.285, 0.138, 0.060],
     [0.009, 0.009, 0.026, 0.017, 0.094, 0.099, 0.232, 0.283, 0.210, 0.021],
     [0.010, 0.014, 0.016, 0.019, 0.027, 0.062, 0.163, 0.467, 0.202, 0.019],
     [0.004, 0.007, 0.031, 0.017, 0.033, 0.050, 0.086, 0.252, 0.469, 0.050],
     [0.000, 0.000, 0.015, 0.046, 0.031, 0.046, 0.077, 0.123, 0.446, 0.215]],
    # class 8: 0.65 < Kt_m <= 0.70
    [[0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 1.000, 0.000],
     [0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 1.000, 0.000],
     [0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.250, 0.250, 0.500, 0.000],
     [0.000, 0.000, 0.000, 0.000, 0.250, 0.000, 0.000, 0.375, 0.250, 0.125],
     [0.000, 0.000, 0.000, 0.083, 0.000, 0.167, 0.167, 0.250, 0.333, 0.000],
     [0.000, 0.000, 0.042, 0.042, 0.042, 0.083, 0.083, 0.292, 0.292, 0.125],
     [0.000, 0.000, 0.032, 0.000, 0.000, 0.032, 0.129, 0.387, 0.355, 0.065],
     [0.000, 0.000, 0.000, 0.038, 0.038, 0.075, 0.047, 0.340, 0.415, 0.047],
     [0.004, 0.004, 0.007, 0.007, 0.011, 0.030, 0.052, 0.141, 0.654, 0.089],
     [0.000, 0.000, 0.000, 0.000, 0.061, 0.061, 0.030, 0.030, 0.349, 0.470]],
    # class 9: Kt_m > 0.70
    [[0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 1.000, 0.000],
     [0.100, 0.100, 0.100, 0.100, 0.100, 0.100, 0.100, 0.100, 0.100, 0.100],
     [0.000, 0.000, 0.000, 0.250, 0.000, 0.000, 0.000, 0.500, 0.250, 0.000],
     [0.000, 0.000, 0.143, 0.143, 0.000, 0.143, 0.143, 0.429, 0.000, 0.000],
     [0.000, 0.000, 0.000, 0.200, 0.000, 0.000, 0.200, 0.400, 0.200, 0.000],
     [0.000, 0.000, 0.000, 0.000, 0.000, 0.000, 0.222, 0.444, 0.333, 0.000],
     [0.000, 0.000, 0.000, 0.000, 0.080, 0.080, 0.080, 0.480, 0.240, 0.040],
     [0.000, 0.000, 0.027, 0.009, 0.027, 0.018, 0.135, 0.523, 0.252, 0.009],
     [0.000, 0.000, 0.000, 0.022, 0.000, 0.043, 0.043, 0.326, 0.511, 0.054],
     [0.000, 0.000, 0.000, 0.143, 0.000, 0.000, 0.000, 0.143, 0.714, 0.000]],
])

#: Derived, not printed in any source: 11 equal-width bin edges per class,
#: linspace(Kt_min, Kt_max, 11). This is the convention all four sources use. Shape (10, 11).
MTM_KT_BIN_EDGES = np.linspace(MTM_KT_MIN, MTM_KT_MAX, 11, axis=1)


# --------------------------------------------------------------------------------------------
# TAG model [P2]
# --------------------------------------------------------------------------------------------

#: Coefficient of Kt^5 in B(Kt) = 3 (Kt - 0.45)^2 + TAG_B_KT5 * Kt^5 (S1, S5). S4 has 0.16, and
#: S6 uses the grouping 3[(Kt - 0.45)^2 + 16 Kt^5]. Unresolved; see the module docstring.
TAG_B_KT5 = 16.0


def tag_lambda(Kt):
    """lambda(Kt) = -0.19 + 1.12 Kt + 0.24 exp(-8 Kt)  ([P2] via S1, S4, S5, S6)."""
    Kt = np.asarray(Kt, dtype=float)
    return -0.19 + 1.12 * Kt + 0.24 * np.exp(-8.0 * Kt)


def tag_epsilon(Kt):
    """epsilon(Kt) = 0.32 - 1.6 (Kt - 0.5)^2  ([P2] via S1 (named eta), S4, S5, S6)."""
    Kt = np.asarray(Kt, dtype=float)
    return 0.32 - 1.6 * (Kt - 0.5) ** 2


def tag_kappa(Kt):
    """kappa(Kt) = 0.19 + 2.27 Kt^2 - 2.51 Kt^3  ([P2] via S1, S4, S5, S6)."""
    Kt = np.asarray(Kt, dtype=float)
    return 0.19 + 2.27 * Kt ** 2 - 2.51 * Kt ** 3


def tag_mean_kt(Kt, sin_elevation):
    """Mean hourly clearness index kt_m = lambda(Kt) + epsilon(Kt) exp(-kappa(Kt) / sin h).

    Kt: daily clearness index. sin_elevation: sine of the solar elevation h at the hour's
    mid-point. Both are array-like and broadcast together. Returns NaN where sin_elevation <= 0
    (sun down), where the formula is undefined. Source: [P2] via S1, S4, S5, S6, which agree.
    """
    Kt = np.asarray(Kt, dtype=float)
    s = np.asarray(sin_elevation, dtype=float)
    up = s > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = tag_lambda(Kt) + tag_epsilon(Kt) * np.exp(-tag_kappa(Kt) / np.where(up, s, np.nan))
    return out


def tag_phi1(Kt):
    """Lag-1 autocorrelation of the normalised hourly variable: 0.38 + 0.06 cos(7.4 Kt - 2.5).

    Kt: daily clearness index (array-like). Source: [P2] via S1, S4, S5, S6, which agree.
    """
    Kt = np.asarray(Kt, dtype=float)
    return 0.38 + 0.06 * np.cos(7.4 * Kt - 2.5)


def tag_sigma(Kt, sin_elevation):
    """Standard deviation of hourly kt about kt_m: sigma = A(Kt) exp(B(Kt) (1 - sin h)).

    A(Kt) = 0.14 exp(-20 (Kt - 0.35)^2)  (S1, S4, S5, S6 agree).
    B(Kt) = 3 (Kt - 0.45)^2 + 16 Kt^5    (S1, S5). This coefficient is disputed: S4 has
    0.16 Kt^5, and S6 has 3[(Kt - 0.45)^2 + 16 Kt^5]. See ``TAG_B_KT5``.
    In every source sigma depends on the solar elevation h as well as on the daily Kt, so
    sin_elevation is required. Inputs broadcast together. Returns NaN where sin_elevation <= 0.
    """
    Kt = np.asarray(Kt, dtype=float)
    s = np.asarray(sin_elevation, dtype=float)
    A = 0.14 * np.exp(-20.0 * (Kt - 0.35) ** 2)
    B = 3.0 * (Kt - 0.45) ** 2 + TAG_B_KT5 * Kt ** 5
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(s > 0, A * np.exp(B * (1.0 - s)), np.nan)
